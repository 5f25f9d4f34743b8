// The review screen's decisions without a page reload. Progressive enhancement: without this file
// every form still posts and the page comes back at the review screen.
(function () {
  "use strict";
  const status = document.getElementById("review-status");

  function show(text, ok) {
    if (!status) return;
    status.textContent = text;
    status.className = "review-status " + (ok ? "success" : "error");
  }

  function apply(result) {
    for (const m of result.matches || []) {
      const row = document.querySelector('tr.review-row[data-match="' + m.id + '"]');
      if (!row) continue;
      row.classList.remove("pending", "confirmed", "rejected", "needs-decision");
      row.classList.add(m.decision);
      const cell = row.querySelector("td.decision");
      if (cell) {
        cell.className = "decision decision-" + m.decision;
        cell.textContent = m.label + " by " + m.by;
      }
      const box = row.querySelector('input[name="match_ids"]');
      if (box) box.remove();
    }
    document.querySelectorAll(".review-pending-count").forEach(function (el) {
      el.textContent = String(result.pending);
    });
  }

  document.addEventListener("submit", function (event) {
    const form = event.target;
    if (!(form instanceof HTMLFormElement) || !form.hasAttribute("data-review-form")) return;
    event.preventDefault();
    const data = new FormData(form);
    if (event.submitter && event.submitter.name) data.append(event.submitter.name, event.submitter.value);
    form.querySelectorAll("button").forEach(function (b) { b.disabled = true; });
    fetch(form.action, {
      method: "POST",
      body: data,
      credentials: "same-origin",
      headers: { Accept: "application/json" },
    })
      .then(function (response) { return response.json(); })
      .then(function (result) {
        show(result.message, result.ok);
        if (result.ok) apply(result);
      })
      .catch(function () { show("Not done: the server could not be reached; try again.", false); })
      .finally(function () {
        form.querySelectorAll("button").forEach(function (b) { b.disabled = false; });
      });
  });
})();
