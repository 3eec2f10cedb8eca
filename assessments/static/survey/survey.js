// Progressive enhancement for the survey: a draft kept in this browser only (localStorage)
// and a live progress count. The survey works the same without this file.
(function () {
  "use strict";

  function storage() {
    try {
      var probe = "plimsoll-probe";
      window.localStorage.setItem(probe, probe);
      window.localStorage.removeItem(probe);
      return window.localStorage;
    } catch (e) {
      return null; // private mode or storage disabled: no draft, nothing else changes
    }
  }

  function clearFinishedDraft(store) {
    var thanks = document.getElementById("thanks");
    if (store && thanks && thanks.dataset.clearDraft) {
      store.removeItem(thanks.dataset.clearDraft);
    }
  }

  function setUpForm(form, store) {
    var key = form.dataset.draftKey;
    var progress = document.getElementById("progress");
    var progressText = document.getElementById("progress-text");
    var template = form.dataset.progressTemplate || "%(answered)s / %(total)s";
    var names = [];
    form.querySelectorAll("fieldset.question").forEach(function (fieldset) {
      var input = fieldset.querySelector("input[type=radio]");
      if (input) { names.push(input.name); }
    });

    function answers() {
      var data = {};
      names.forEach(function (name) {
        var checked = form.querySelector("input[name='" + name + "']:checked");
        if (checked) { data[name] = checked.value; }
      });
      return data;
    }

    function showProgress() {
      var count = Object.keys(answers()).length;
      if (progress) { progress.value = count; }
      if (progressText) {
        progressText.textContent = template
          .replace("%(answered)s", count).replace("%(total)s", names.length);
      }
    }

    if (store && key) {
      var saved = {};
      try { saved = JSON.parse(store.getItem(key) || "{}"); } catch (e) { saved = {}; }
      names.forEach(function (name) {
        // An answer the server sent back (after a failed submit) wins over the draft.
        if (form.querySelector("input[name='" + name + "']:checked")) { return; }
        var value = saved[name];
        if (value === undefined) { return; }
        var input = form.querySelector("input[name='" + name + "'][value='" + String(value).replace(/'/g, "") + "']");
        if (input) { input.checked = true; }
      });
      var note = document.querySelector(".draft-note");
      if (note) { note.hidden = false; }
      form.addEventListener("change", function () {
        store.setItem(key, JSON.stringify(answers()));
        showProgress();
      });
    } else {
      form.addEventListener("change", showProgress);
    }
    showProgress();
    var summary = document.getElementById("error-summary");
    if (summary) { summary.focus(); }
  }

  document.addEventListener("DOMContentLoaded", function () {
    var store = storage();
    clearFinishedDraft(store);
    var form = document.getElementById("survey-form");
    if (form) { setUpForm(form, store); }
  });
})();
