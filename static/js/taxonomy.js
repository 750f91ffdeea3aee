// Taxonomy page: filter the label tree as you type; "/" focuses the search box.
// The rows carry their data in data-* attributes (key, English and Chinese name,
// ancestor keys), so no request is made and no framework is needed.
(function () {
  "use strict";

  var input = document.getElementById("taxonomy-search");
  var tree = document.getElementById("taxonomy-tree");
  if (!input || !tree) {
    return;
  }
  var count = document.getElementById("taxonomy-count");
  var empty = document.getElementById("taxonomy-empty");
  var rows = Array.prototype.slice.call(tree.querySelectorAll("li[data-key]"));
  var entries = rows.map(function (row) {
    var d = row.dataset;
    return {
      row: row,
      key: d.key,
      ancestors: d.ancestors ? d.ancestors.split(" ") : [],
      haystack: [d.key, d.nameEn || "", d.nameZh || ""].join("\n").toLowerCase(),
    };
  });

  function apply(query) {
    var q = query.trim().toLowerCase();
    var matched = 0;
    var context = Object.create(null);
    entries.forEach(function (entry) {
      entry.match = q === "" || entry.haystack.indexOf(q) !== -1;
      if (entry.match) {
        matched += 1;
        entry.ancestors.forEach(function (key) { context[key] = true; });
      }
    });
    entries.forEach(function (entry) {
      var shownAsContext = !entry.match && context[entry.key] === true;
      entry.row.hidden = !entry.match && !shownAsContext;
      entry.row.classList.toggle("tax-match", q !== "" && entry.match);
      entry.row.classList.toggle("tax-context", shownAsContext);
    });
    if (count) {
      count.textContent = q === ""
        ? count.dataset.total + " " + count.dataset.textAll
        : matched + " / " + count.dataset.total + " " + count.dataset.textMatching;
    }
    if (empty) {
      empty.hidden = matched !== 0;
    }
  }

  function typingElsewhere(target) {
    if (!target || target === document.body) {
      return false;
    }
    var tag = target.tagName;
    return tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT" || target.isContentEditable;
  }

  input.addEventListener("input", function () { apply(input.value); });
  input.addEventListener("keydown", function (event) {
    if (event.key === "Escape") {
      input.value = "";
      apply("");
      input.blur();
    }
  });
  document.addEventListener("keydown", function (event) {
    if (event.key === "/" && !event.ctrlKey && !event.metaKey && !event.altKey && !typingElsewhere(event.target)) {
      event.preventDefault();
      input.focus();
      input.select();
    }
  });

  // A link such as /taxonomy/?q=cat opens the page already filtered.
  var initial = new URLSearchParams(window.location.search).get("q");
  if (initial) {
    input.value = initial;
  }
  apply(input.value);
})();
