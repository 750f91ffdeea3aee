/*
 * The audit page (templates/audits/item.html): a QA lead judges one sampled decision, keyboard first.
 *
 * Blind first: the page knows nothing of the annotator's verdict until the QA lead pressed
 * P (present) or A (absent); the API's answer reveals it. Agreement: Enter / N goes to the next
 * item. Disagreement: 1..7 picks the reason, the note is optional, S asks for a second look,
 * Enter saves (the dataset is corrected; what changed is listed), W says the annotator was
 * right after all. Once the outcome is final, G uses the item as a gold item (QA's verdict as
 * its answer). A finished item opened again shows the same reveal, from
 * <script id="audit-revealed"> (json_script). URLs and words come from data-* on #audit.
 */
(function () {
  "use strict";

  var root = document.getElementById("audit");
  if (!root) {
    return;
  }
  var t = root.dataset;
  var blind = root.querySelector("[data-phase=blind]");
  var reveal = root.querySelector("[data-phase=reveal]");
  var outcome = root.querySelector("[data-testid=outcome]");
  var lines = root.querySelector("[data-testid=verdicts]");
  var form = root.querySelector("[data-testid=reason-form]");
  var note = form.querySelector("textarea[name=note]");
  var secondLook = form.querySelector("input[name=second_look]");
  var changesBox = root.querySelector("[data-testid=changes]");
  var nextHint = root.querySelector("[data-testid=next-hint]");
  var goldBox = root.querySelector("[data-testid=gold-box]");
  var goldButton = goldBox.querySelector("[data-action=gold]");
  var goldState = goldBox.querySelector("[data-testid=gold-state]");
  var goldAllowed = false;
  var toastBox = document.getElementById("toast");
  var zh = (document.documentElement.lang || "").toLowerCase().indexOf("zh") === 0;

  // blind: waiting for P / A; reason: a disagreement to explain; done: Enter goes on; busy: nothing to do here.
  var phase = root.dataset.mode === "judge" || root.dataset.mode === "second" ? "blind" : "busy";
  var busy = false;
  var toastTimer = null;

  var post = window.LabelLoop.post;  // static/js/api.js

  function toast(text) {
    toastBox.textContent = text;
    if (toastTimer !== null) { window.clearTimeout(toastTimer); }
    toastTimer = window.setTimeout(function () { toastBox.textContent = ""; }, 6000);
  }

  function el(tag, attrs, text) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (key) { node.setAttribute(key, attrs[key]); });
    if (text !== undefined && text !== null) { node.textContent = text; }
    return node;
  }

  function verdictText(verdict) {
    if (verdict === "present") { return "✓ " + t.tPresent; }
    if (verdict === "absent") { return "✗ " + t.tAbsent; }
    return "";
  }

  function stateText(state) {
    if (state === 1) { return t.tPresent; }
    if (state === 0) { return t.tAbsent; }
    return t.tUnknown;
  }

  function line(name, value, testid) {
    lines.appendChild(el("dt", {}, name));
    lines.appendChild(el("dd", { "data-testid": testid }, value));
  }

  function who(role, name) {
    return name ? role + " (" + name + ")" : role;
  }

  function renderChanges(changes) {
    var list = changesBox.querySelector("ul");
    list.textContent = "";
    changes.forEach(function (change) {
      var name = zh && change.name_zh ? change.name_zh : change.name_en;
      var source = t["tSrc" + change.source.charAt(0).toUpperCase() + change.source.slice(1)] || change.source;
      list.appendChild(el("li", { "data-key": change.key, "data-source": change.source },
        name + ": " + stateText(change.old_state) + " → " + stateText(change.new_state) + " (" + source + ")"));
    });
  }

  function render(data) {
    if (blind) { blind.hidden = true; }
    reveal.hidden = false;
    lines.textContent = "";
    line(who(t.tAnnotator, data.annotator), verdictText(data.annotator_verdict), "annotator-verdict");
    if (data.qa_verdict) {
      line(who(data.mine ? t.tYou : t.tQa, data.qa_user), verdictText(data.qa_verdict), "qa-verdict");
    }
    if (data.reason_label) { line(t.tReason, data.reason_label, "reason"); }
    if (data.note) { line(t.tNote, data.note, "note-text"); }
    if (data.second_verdict) { line(who(t.tSecond, data.second_user), verdictText(data.second_verdict), "second-verdict"); }

    var messages = [];
    outcome.className = "au-outcome";
    if (data.status === "awaiting_reason") {
      messages.push(data.mine ? t.tDisagree : t.tOtherQa);
      outcome.classList.add("disagree");
    } else if (data.agrees) {
      messages.push(t.tAgreed);
      if (data.second_verdict && data.second_look_requested) { messages.push(t.tSecondSided); }
      outcome.classList.add("agree");
    } else {
      messages.push(t.tOverturned);
      if (data.second_verdict) { messages.push(t.tSecondKept); } else if (data.second_look_requested) { messages.push(t.tSecondWanted); }
      outcome.classList.add("disagree");
    }
    outcome.textContent = messages.join(" ");

    phase = data.status === "awaiting_reason" && data.mine ? "reason" : "done";
    form.hidden = phase !== "reason";
    nextHint.hidden = phase !== "done";
    renderGold(data.gold_allowed && phase === "done", data.gold);
    renderChanges(data.changes || []);
    var showChanges = data.status === "done" && data.agrees === false || (data.changes || []).length > 0;
    changesBox.hidden = !showChanges;
    if (showChanges && !(data.changes || []).length) {
      changesBox.querySelector("ul").appendChild(el("li", {}, t.tNoChange));
    }
    if (phase === "reason") {
      var first = form.querySelector("input[name=reason]");
      if (first) { first.blur(); }
    }
  }

  // A settled item can become a gold item (G): QA's verdict is its answer.
  function renderGold(allowed, isGold) {
    goldAllowed = allowed && !isGold;
    goldBox.hidden = !allowed && !isGold;
    goldButton.hidden = !goldAllowed;
    goldState.textContent = isGold ? t.tGoldDone : "";
  }

  function markGold() {
    if (!goldAllowed || busy) { return; }
    busy = true;
    post(root.dataset.goldUrl).then(function (result) {
      busy = false;
      if (result.ok || result.status === 409) {
        renderGold(true, true);
        if (!result.ok) { toast(result.data.detail || ""); }
        return;
      }
      toast(t.tError + " " + (result.data && result.data.detail ? result.data.detail : result.status));
    }).catch(function (error) {
      busy = false;
      toast(t.tError + " " + error);
    });
  }

  function send(url, body) {
    if (busy) { return; }
    busy = true;
    post(url, body).then(function (result) {
      busy = false;
      if (result.ok) {
        render(result.data);
        return;
      }
      var detail = result.data && result.data.detail ? result.data.detail : JSON.stringify(result.data);
      toast(t.tError + " " + detail);
    }).catch(function (error) {
      busy = false;
      toast(t.tError + " " + error);
    });
  }

  function judge(verdict) {
    if (phase !== "blind") { return; }
    send(root.dataset.judgeUrl, { verdict: verdict });
  }

  function chosenReason() {
    var checked = form.querySelector("input[name=reason]:checked");
    return checked ? checked.value : "";
  }

  function explain() {
    if (phase !== "reason") { return; }
    var reason = chosenReason();
    if (!reason) {
      toast(t.tPick);
      return;
    }
    send(root.dataset.explainUrl, { reason: reason, note: note.value, second_look: secondLook.checked });
  }

  function withdraw() {
    if (phase !== "reason") { return; }
    send(root.dataset.withdrawUrl, {});
  }

  function next() {
    window.location.assign(root.dataset.nextUrl);
  }

  if (blind) {
    blind.querySelectorAll("button[data-verdict]").forEach(function (button) {
      button.addEventListener("click", function () { judge(button.dataset.verdict); });
    });
  }
  form.addEventListener("submit", function (event) {
    event.preventDefault();
    explain();
  });
  form.querySelector("[data-action=withdraw]").addEventListener("click", withdraw);
  goldButton.addEventListener("click", markGold);

  document.addEventListener("keydown", function (event) {
    if (event.altKey || event.metaKey) { return; }
    var typing = event.target === note;
    if (typing) {
      if (event.key === "Enter" && event.ctrlKey) {
        event.preventDefault();
        explain();
      } else if (event.key === "Escape") {
        note.blur();
      }
      return;
    }
    if (event.ctrlKey) { return; }
    var key = event.key.length === 1 ? event.key.toLowerCase() : event.key;
    if (phase === "blind") {
      if (key === "p") { event.preventDefault(); judge("present"); }
      if (key === "a") { event.preventDefault(); judge("absent"); }
    } else if (phase === "reason") {
      var radio = /^[1-9]$/.test(key) ? form.querySelector("input[name=reason][data-key='" + key + "']") : null;
      if (radio) {
        event.preventDefault();
        radio.checked = true;
      } else if (key === "Enter") {
        event.preventDefault();
        explain();
      } else if (key === "w") {
        event.preventDefault();
        withdraw();
      } else if (key === "s") {
        event.preventDefault();
        secondLook.checked = !secondLook.checked;
      }
    } else if (key === "g") {
      event.preventDefault();
      markGold();
    } else if (key === "Enter" || key === "n") {
      if (event.target && event.target.tagName === "A") { return; }  // the link does it
      event.preventDefault();
      next();
    }
  });

  var revealed = document.getElementById("audit-revealed");
  if (revealed) {
    render(JSON.parse(revealed.textContent));
  }
}());
