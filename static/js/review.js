/*
 * The review page (templates/cleaning/review.html): one label's batch as a grid, keyboard first.
 *
 * Data comes from the page: the first batch in <script id="review-batch"> (json_script), URLs
 * and translated words in data-* attributes on #review. Each verdict is saved at once
 * (POST …/items/<id>/decision/); z undoes the last one; Enter / space releases what is left
 * undecided and shows the next batch, which was fetched in the background once half of this
 * one was decided. The leases on screen are renewed while the page is open.
 */
(function () {
  "use strict";

  var root = document.getElementById("review");
  if (!root) {
    return;
  }
  var grid = root.querySelector("[data-testid=grid]");
  var t = root.dataset;
  var toastBox = document.getElementById("toast");
  var guideline = document.getElementById("guideline");
  var help = document.getElementById("help");
  var decidedField = document.querySelector("[data-field=decided]");
  var totalField = document.querySelector("[data-field=total]");

  var batch = JSON.parse(document.getElementById("review-batch").textContent);
  var nextBatch = null;
  var fetchingNext = false;
  var focus = 0;
  var shownAt = Date.now();
  var busy = false;
  var toastTimer = null;

  var post = window.LabelLoop.post;  // static/js/api.js

  function withId(template, id) {
    return template.replace("/0/", "/" + id + "/");
  }

  function toast(text, long) {
    toastBox.textContent = text;
    if (toastTimer !== null) { window.clearTimeout(toastTimer); }
    toastTimer = window.setTimeout(function () { toastBox.textContent = ""; }, long ? 6000 : 2500);
  }

  function el(tag, attrs, text) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (key) { node.setAttribute(key, attrs[key]); });
    if (text !== undefined && text !== null) { node.textContent = text; }
    return node;
  }

  function fmt(score) {
    return score === null || score === undefined ? "—" : Number(score).toFixed(2);
  }

  function stateText(state) {
    if (state === 1) { return "✓ " + t.tPresent; }
    if (state === 0) { return "✗ " + t.tAbsent; }
    return "– " + t.tNone;
  }

  function verdictText(verdict) {
    return verdict ? t["t" + verdict.charAt(0).toUpperCase() + verdict.slice(1)] : "";
  }

  function row(dl, name, value, testid, cls) {
    dl.appendChild(el("dt", {}, name));
    var dd = el("dd", { "data-testid": testid }, value);
    if (cls) { dd.className = cls; }
    dl.appendChild(dd);
    return dd;
  }

  function tileNode(item, index) {
    var tile = el("article", { "class": "rv-tile", "data-item": item.id, "data-index": index, tabindex: "-1", role: "gridcell" });
    tile.dataset.verdict = item.my_verdict || "";
    var img = el("img", { "class": "rv-thumb", src: item.thumb_url, alt: "", loading: "lazy", title: t.tOpen });
    img.addEventListener("error", function onError() {
      img.removeEventListener("error", onError);
      if (img.getAttribute("src") !== item.original_url) { img.src = item.original_url; }
    });
    img.addEventListener("click", function () { openImage(index); });
    tile.appendChild(img);
    tile.appendChild(el("span", { "class": "rv-verdict", "data-testid": "verdict" }, verdictText(item.my_verdict)));
    var dl = el("dl", { "class": "rv-src" });
    row(dl, t.tDataset, stateText(item.dataset_state), "dataset", "rv-state-" + item.dataset_state);
    var model = item.model_name === null ? t.tNoModel
      : (item.model_score === null ? "< 0.02 (" + t.tBelow + ")" : fmt(item.model_score)) + " · " + item.model_name;
    row(dl, t.tModel, model, "model");
    var comp = item.competitors.map(function (c) {
      return c.source + ": " + (c.keyword || "?") + " " + fmt(c.score);
    }).join("; ");
    row(dl, t.tCompetitor, comp || "—", "competitor");
    if (item.others.length) {
      row(dl, t.tOther, item.others.map(function (c) {
        return c.kind + " " + c.source + (c.keyword ? " " + c.keyword : "") + " " + fmt(c.score);
      }).join("; "), "other");
    }
    tile.appendChild(dl);
    if (item.reasons.length) {
      var ul = el("ul", { "class": "rv-reasons", "data-testid": "reasons" });
      item.reasons.forEach(function (reason) { ul.appendChild(el("li", {}, reason)); });
      tile.appendChild(ul);
    }
    tile.appendChild(el("div", { "class": "rv-flag", "data-testid": "flag" }));
    return tile;
  }

  function tiles() {
    return grid.querySelectorAll(".rv-tile");
  }

  function updateCounts() {
    var decided = batch.items.filter(function (item) { return item.my_verdict; }).length;
    decidedField.textContent = decided;
    totalField.textContent = batch.items.length;
    if (!fetchingNext && nextBatch === null && batch.items.length && decided * 2 >= batch.items.length) {
      prefetch();
    }
  }

  function render() {
    grid.textContent = "";
    if (!batch.items.length) {
      grid.appendChild(el("p", { "class": "card", "data-testid": "empty" }, t.tEmpty));
    }
    batch.items.forEach(function (item, index) { grid.appendChild(tileNode(item, index)); });
    focus = 0;
    var firstOpen = batch.items.findIndex(function (item) { return !item.my_verdict; });
    setFocus(firstOpen >= 0 ? firstOpen : 0);
    updateCounts();
    shownAt = Date.now();
  }

  function setFocus(index) {
    var nodes = tiles();
    if (!nodes.length) { return; }
    focus = Math.max(0, Math.min(nodes.length - 1, index));
    nodes.forEach(function (node) { node.classList.remove("rv-focus"); });
    nodes[focus].classList.add("rv-focus");
    nodes[focus].focus({ preventScroll: true });
    nodes[focus].scrollIntoView({ block: "nearest" });
  }

  function columns() {
    var nodes = tiles();
    if (nodes.length < 2) { return 1; }
    var top = nodes[0].offsetTop;
    var count = 0;
    while (count < nodes.length && nodes[count].offsetTop === top) { count += 1; }
    return Math.max(1, count);
  }

  function setDatasetState(index, state) {
    var item = batch.items[index];
    item.dataset_state = state;
    var dd = tiles()[index].querySelector("[data-testid=dataset]");
    dd.textContent = stateText(state);
    dd.className = "rv-state-" + state;
  }

  function setVerdict(index, verdict) {
    batch.items[index].my_verdict = verdict;
    var tile = tiles()[index];
    tile.dataset.verdict = verdict || "";
    tile.querySelector("[data-testid=verdict]").textContent = verdictText(verdict);
  }

  function decide(verdict) {
    var item = batch.items[focus];
    if (!item || busy) { return; }
    var index = focus;
    busy = true;
    post(withId(t.decideUrl, item.id), { verdict: verdict, time_spent_ms: Date.now() - shownAt })
      .then(function (result) {
        if (!result.ok) {
          toast(t.tError + " " + (result.data.detail || result.status), true);
          return;
        }
        var data = result.data;
        setVerdict(index, verdict);
        data.labels.forEach(function (label) {
          if (label.key === batch.label) { setDatasetState(index, label.state); }
        });
        var flag = tiles()[index].querySelector("[data-testid=flag]");
        flag.textContent = "";
        if (data.conflicts && data.conflicts.length) {
          flag.textContent = t.tExcluded + " " + data.conflicts.join(", ");
          toast(flag.textContent, true);
        } else if (data.second_opinion) {
          toast(t.tSecond + (data.agrees === false ? " " + t.tDiffers : ""), true);
        }
        shownAt = Date.now();
        updateCounts();
        var nextOpen = batch.items.findIndex(function (it, i) { return i > index && !it.my_verdict; });
        setFocus(nextOpen >= 0 ? nextOpen : index);
      })
      .catch(function (error) { toast(t.tError + " " + error, true); })
      .then(function () { busy = false; });
  }

  function undo() {
    if (busy) { return; }
    busy = true;
    post(t.undoUrl)
      .then(function (result) {
        if (result.status === 404) { toast(t.tNothing); return; }
        if (!result.ok) { toast(t.tError + " " + (result.data.detail || result.status), true); return; }
        var index = batch.items.findIndex(function (item) { return item.id === result.data.item; });
        if (index >= 0) {
          setVerdict(index, null);
          result.data.labels.forEach(function (label) {
            if (label.key === batch.label) { setDatasetState(index, label.state); }
          });
          tiles()[index].querySelector("[data-testid=flag]").textContent = "";
          setFocus(index);
        }
        updateCounts();
        toast(t.tUndone);
      })
      .catch(function (error) { toast(t.tError + " " + error, true); })
      .then(function () { busy = false; });
  }

  function prefetch() {
    fetchingNext = true;
    return post(t.takeUrl).then(function (result) {
      if (result.ok && result.data.lease !== batch.lease) { nextBatch = result.data; }
    }).catch(function () { /* the next submit takes one itself */ }).then(function () { fetchingNext = false; });
  }

  function submitPage() {
    if (busy) { return; }
    busy = true;
    var done = batch;
    post(withId(t.releaseUrl, done.lease)).then(function () {
      if (nextBatch !== null && nextBatch.items.length) { return nextBatch; }
      return post(t.takeUrl).then(function (result) { return result.ok ? result.data : done; });
    }).then(function (next) {
      if (next.lease === done.lease) {
        // Only the released lease came back: ask once more for a fresh one.
        return post(t.takeUrl).then(function (result) { return result.ok ? result.data : next; });
      }
      return next;
    }).then(function (next) {
      batch = next;
      nextBatch = null;
      render();
    }).catch(function (error) { toast(t.tError + " " + error, true); })
      .then(function () { busy = false; });
  }

  function renew() {
    [batch, nextBatch].forEach(function (held) {
      if (held && held.lease) { post(withId(t.renewUrl, held.lease)).catch(function () { /* next ping */ }); }
    });
  }

  function openImage(index) {
    var item = batch.items[index === undefined ? focus : index];
    if (item) {
      window.location.href = item.detail_url + "?back=" + encodeURIComponent(window.location.pathname);
    }
  }

  function toggle(panel, other) {
    other.hidden = true;
    panel.hidden = !panel.hidden;
  }

  document.addEventListener("keydown", function (event) {
    var target = event.target;
    if (target && (target.tagName === "INPUT" || target.tagName === "TEXTAREA" || target.tagName === "SELECT")) {
      return;
    }
    if (event.altKey || event.metaKey) { return; }
    var key = event.key;
    if (event.ctrlKey) {
      if (key === "z" || key === "Z") { event.preventDefault(); undo(); }
      return;
    }
    var cols = columns();
    var handled = true;
    switch (key) {
      case "ArrowLeft": case "h": setFocus(focus - 1); break;
      case "ArrowRight": case "l": setFocus(focus + 1); break;
      case "ArrowUp": case "k": setFocus(focus - cols); break;
      case "ArrowDown": case "j": setFocus(focus + cols); break;
      case "1": case "p": decide("present"); break;
      case "2": case "a": decide("absent"); break;
      case "3": case "u": decide("unsure"); break;
      case "Enter": case " ": submitPage(); break;
      case "z": undo(); break;
      case "o": openImage(); break;
      case "g": toggle(guideline, help); break;
      case "?": toggle(help, guideline); break;
      case "Escape": guideline.hidden = true; help.hidden = true; break;
      default: handled = false;
    }
    if (handled) { event.preventDefault(); }
  });

  document.querySelector("[data-action=submit]").addEventListener("click", submitPage);
  grid.addEventListener("click", function (event) {
    var tile = event.target.closest(".rv-tile");
    if (tile) { setFocus(parseInt(tile.dataset.index, 10)); }
  });
  window.setInterval(renew, parseInt(t.renewMs || "60000", 10));
  render();
}());
