/*
 * A queue's read view for QA leads and admins (templates/cleaning/queue_read.html): the
 * present / absent buttons of a row record your verdict on that item through the decision
 * API. On an item someone already decided it is kept as a second opinion (never applied).
 */
(function () {
  "use strict";

  var table = document.getElementById("queue-items");
  if (!table) {
    return;
  }

  var csrf = window.LabelLoop.csrf;  // static/js/api.js

  table.addEventListener("click", function (event) {
    var button = event.target.closest("button[data-verdict]");
    if (!button) {
      return;
    }
    var cell = button.closest("[data-decide-url]");
    var row = button.closest("tr");
    fetch(cell.dataset.decideUrl, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", Accept: "application/json", "X-CSRFToken": csrf() },
      body: JSON.stringify({ verdict: button.dataset.verdict })
    }).then(function (response) {
      return response.json().then(function (data) { return { ok: response.ok, data: data }; });
    }).then(function (result) {
      var note = document.createElement("div");
      note.dataset.testid = "opinion";
      if (result.ok) {
        note.textContent = table.dataset.tSaved + " " + button.textContent +
          (result.data.second_opinion ? " (" + table.dataset.tSecond + ")" : "");
      } else {
        note.textContent = table.dataset.tError + " " + (result.data.detail || JSON.stringify(result.data));
      }
      row.querySelector("[data-field=decisions]").appendChild(note);
    });
  });
}());
