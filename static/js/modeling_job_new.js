/*
 * The job start form (templates/modeling/job_new.html): shows the fields the chosen kind
 * uses (snapshot, recipe, backbone, epochs, YAML for training and the recipe comparison;
 * the version for re-predict). Ctrl+Enter submits.
 */
(function () {
  "use strict";

  var form = document.getElementById("job-form");
  if (!form) {
    return;
  }
  var kind = form.querySelector("[name=kind]");
  var uses = {
    train: ["kind", "snapshot", "recipe", "backbone", "epochs", "custom_yaml"],
    ablate: ["kind", "snapshot", "backbone", "epochs", "custom_yaml"],
    predict: ["kind", "version"],
  };

  function update() {
    var wanted = uses[kind.value] || uses.train;
    form.querySelectorAll("[data-field-name]").forEach(function (box) {
      box.hidden = wanted.indexOf(box.dataset.fieldName) === -1;
    });
    form.querySelectorAll("[data-show-for]").forEach(function (note) {
      note.hidden = note.dataset.showFor !== kind.value;
    });
  }

  kind.addEventListener("change", update);
  form.addEventListener("keydown", function (event) {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
      event.preventDefault();
      form.requestSubmit();
    }
  });
  update();
})();
