/*
 * JSON calls from LabelLoop's pages to its API (loaded by templates/base.html before each
 * page's own script): the session's CSRF token, and a POST whose answer always comes back as
 * { ok, status, data }, data being {} when the body is not JSON.
 */
(function () {
  "use strict";

  function csrf() {
    var match = document.cookie.match(/(?:^|; )csrftoken=([^;]+)/);
    return match ? decodeURIComponent(match[1]) : "";
  }

  function post(url, body) {
    return fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", Accept: "application/json", "X-CSRFToken": csrf() },
      body: JSON.stringify(body || {})
    }).then(function (response) {
      return response.json().catch(function () { return {}; }).then(function (data) {
        return { ok: response.ok, status: response.status, data: data };
      });
    });
  }

  window.LabelLoop = window.LabelLoop || {};
  window.LabelLoop.csrf = csrf;
  window.LabelLoop.post = post;
})();
