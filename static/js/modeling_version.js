/*
 * A model version's labels (templates/modeling/version_detail.html): a PR curve per label
 * drawn as inline SVG, and threshold picking from the stored curves.
 *
 * #thresholds hands over data-curves-url (per-label rows and PR curves), data-profiles-url
 * (POST a profile), data-can-save, data-export-template and the messages. For each label
 * the admin sets a target precision or recall (or one for all); the threshold and the
 * precision / recall it gives appear at once. The rules are training.thresholds'
 * operating_point: target precision → the highest recall among thresholds meeting it
 * (the last one on ties); target recall → the highest precision among thresholds meeting
 * it (the first one, i.e. the highest recall, on ties). The server applies the same rules
 * to the same curves when a profile is saved.
 */
(function () {
  "use strict";

  var box = document.getElementById("thresholds");
  if (!box) {
    return;
  }
  var SVG = "http://www.w3.org/2000/svg";
  var W = 150;
  var H = 96;
  var PAD = 4;
  var curves = {};
  var rows = Array.prototype.slice.call(box.querySelectorAll("tbody tr[data-key]"));
  var selected = -1;
  var statusLine = document.getElementById("profile-status");

  function pick(curve, mode, target) {
    if (!curve || !curve.thresholds || curve.thresholds.length === 0) {
      return null;
    }
    var p = curve.precision;
    var r = curve.recall;
    var t = curve.thresholds;
    var best = -1;
    for (var i = 0; i < t.length; i++) {
      if (mode === "precision") {
        if (p[i] >= target && (best < 0 || r[i] >= r[best])) {
          best = i;
        }
      } else if (r[i] >= target && (best < 0 || p[i] > p[best])) {
        best = i;
      }
    }
    return best < 0 ? null : { threshold: t[best], precision: p[best], recall: r[best] };
  }

  function x(recall) {
    return PAD + recall * (W - 2 * PAD);
  }

  function y(precision) {
    return H - PAD - precision * (H - 2 * PAD);
  }

  function node(name, attrs) {
    var element = document.createElementNS(SVG, name);
    Object.keys(attrs).forEach(function (key) {
      element.setAttribute(key, attrs[key]);
    });
    return element;
  }

  function drawCurve(row, curve) {
    var cell = row.querySelector("[data-field=curve]");
    cell.textContent = "";
    if (!curve) {
      cell.textContent = box.dataset.msgNoPositives;
      return;
    }
    var svg = node("svg", {
      width: W, height: H, viewBox: "0 0 " + W + " " + H, role: "img",
      "aria-label": "PR " + row.dataset.key, class: "prcurve",
    });
    svg.appendChild(node("rect", { x: PAD, y: PAD, width: W - 2 * PAD, height: H - 2 * PAD, class: "frame" }));
    var d = "";
    for (var i = 0; i < curve.recall.length; i++) {
      d += (i ? " L" : "M") + x(curve.recall[i]).toFixed(1) + " " + y(curve.precision[i]).toFixed(1);
    }
    svg.appendChild(node("path", { d: d, class: "curve" }));
    var point = node("circle", { r: 3.5, class: "point", cx: -10, cy: -10 });
    svg.appendChild(point);
    cell.appendChild(svg);
  }

  function format(value, digits) {
    return value === null || value === undefined ? "—" : Number(value).toFixed(digits);
  }

  function update(row) {
    var key = row.dataset.key;
    var mode = row.querySelector("[data-input=mode]").value;
    var target = parseFloat(row.querySelector("[data-input=target]").value);
    var result = isNaN(target) ? null : pick(curves[key], mode, target);
    row.querySelector("[data-field=pick-threshold]").textContent = result
      ? format(result.threshold, 4) : (curves[key] ? box.dataset.msgUnreachable : "—");
    row.querySelector("[data-field=pick-precision]").textContent = result ? format(result.precision, 3) : "—";
    row.querySelector("[data-field=pick-recall]").textContent = result ? format(result.recall, 3) : "—";
    row.classList.toggle("unreachable", !result && !!curves[key]);
    var point = row.querySelector("circle.point");
    if (point) {
      point.setAttribute("cx", result ? x(result.recall) : -10);
      point.setAttribute("cy", result ? y(result.precision) : -10);
    }
  }

  function select(index) {
    var visible = rows.filter(function (row) { return !row.hidden; });
    if (!visible.length) {
      return;
    }
    index = Math.max(0, Math.min(visible.length - 1, index));
    rows.forEach(function (row) { row.classList.remove("selected"); });
    var row = visible[index];
    row.classList.add("selected");
    row.scrollIntoView({ block: "nearest" });
    selected = index;
  }

  function selectedRow() {
    return box.querySelector("tr.selected");
  }

  rows.forEach(function (row) {
    row.addEventListener("input", function () { update(row); });
    row.addEventListener("change", function () { update(row); });
    row.addEventListener("click", function () {
      select(rows.filter(function (r) { return !r.hidden; }).indexOf(row));
    });
  });

  document.getElementById("all-apply").addEventListener("click", function () {
    var mode = document.getElementById("all-mode").value;
    var target = document.getElementById("all-target").value;
    rows.forEach(function (row) {
      if (row.hidden) {
        return;
      }
      row.querySelector("[data-input=mode]").value = mode;
      row.querySelector("[data-input=target]").value = target;
      update(row);
    });
  });

  var filter = document.getElementById("label-filter");
  filter.addEventListener("input", function () {
    var needle = filter.value.trim().toLowerCase();
    rows.forEach(function (row) {
      row.hidden = needle !== "" && row.textContent.toLowerCase().indexOf(needle) === -1;
    });
  });

  function csrfToken() {
    var input = document.querySelector("#profile-save [name=csrfmiddlewaretoken]");
    return input ? input.value : "";
  }

  function saveProfile() {
    var name = document.getElementById("profile-name").value.trim();
    var targets = {};
    rows.forEach(function (row) {
      var target = parseFloat(row.querySelector("[data-input=target]").value);
      if (!isNaN(target)) {
        targets[row.dataset.key] = { mode: row.querySelector("[data-input=mode]").value, target: target };
      }
    });
    fetch(box.dataset.profilesUrl, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", Accept: "application/json", "X-CSRFToken": csrfToken() },
      body: JSON.stringify({ name: name, targets: targets }),
    })
      .then(function (response) {
        return response.json().then(function (body) { return { ok: response.ok, body: body }; });
      })
      .then(function (answer) {
        if (!answer.ok) {
          var messages = [];
          Object.keys(answer.body).forEach(function (key) { messages.push([].concat(answer.body[key]).join(" ")); });
          statusLine.textContent = messages.join(" ");
          statusLine.className = "error";
          return;
        }
        statusLine.textContent = box.dataset.msgSaved;
        statusLine.className = "ok";
        addProfile(answer.body);
      })
      .catch(function (error) {
        statusLine.textContent = String(error);
        statusLine.className = "error";
      });
  }

  function addProfile(profile) {
    var list = document.getElementById("profile-list");
    var empty = list.querySelector("[data-empty]");
    if (empty) {
      empty.remove();
    }
    var existing = list.querySelector("li[data-name='" + CSS.escape(profile.name) + "']");
    var item = existing || document.createElement("li");
    item.dataset.name = profile.name;
    item.textContent = profile.name + " · " + Object.keys(profile.labels).length + " · ";
    var link = document.createElement("a");
    link.href = box.dataset.exportTemplate.replace("/0/", "/" + profile.id + "/");
    link.textContent = box.dataset.msgExport;
    item.appendChild(link);
    if (!existing) {
      list.appendChild(item);
    }
  }

  var saveButton = document.getElementById("profile-save-button");
  if (box.dataset.canSave === "1") {
    saveButton.addEventListener("click", saveProfile);
  }

  document.addEventListener("keydown", function (event) {
    var tag = (event.target.tagName || "").toLowerCase();
    if (tag === "input" || tag === "select" || tag === "textarea") {
      if (event.key === "Escape") {
        event.target.blur();
      }
      return;
    }
    if (event.ctrlKey || event.metaKey || event.altKey) {
      return;
    }
    var row = selectedRow();
    if (event.key === "/") {
      event.preventDefault();
      filter.focus();
    } else if (event.key === "j") {
      select(selected + 1);
    } else if (event.key === "k") {
      select(selected - 1);
    } else if ((event.key === "p" || event.key === "r") && row) {
      event.preventDefault();
      row.querySelector("[data-input=mode]").value = event.key === "p" ? "precision" : "recall";
      update(row);
      row.querySelector("[data-input=target]").focus();
    } else if (event.key === "s" && box.dataset.canSave === "1") {
      event.preventDefault();
      document.getElementById("profile-name").focus();
    }
  });

  fetch(box.dataset.curvesUrl, { credentials: "same-origin", headers: { Accept: "application/json" } })
    .then(function (response) {
      if (!response.ok) {
        throw new Error("HTTP " + response.status);
      }
      return response.json();
    })
    .then(function (data) {
      curves = data.curves || {};
      rows.forEach(function (row) {
        drawCurve(row, curves[row.dataset.key] || null);
        update(row);
      });
      box.dataset.ready = "1";
    });
})();
