// The admin's little JavaScript: forms marked data-api send their fields to
// the admin API with a session token from App Bridge (shopify.idToken()),
// and show what the API answered. Everything else is plain HTML.
(function () {
  "use strict";
  function token() {
    if (window.shopify && window.shopify.idToken) return window.shopify.idToken();
    return Promise.reject(new Error("Open Doorstep from your Shopify admin to make changes."));
  }
  function api(method, path, body) {
    return token().then(function (t) {
      var init = { method: method, headers: { Authorization: "Bearer " + t } };
      if (body !== undefined) {
        init.headers["Content-Type"] = "application/json";
        init.body = JSON.stringify(body);
      }
      return fetch(path, init).then(function (r) {
        var type = r.headers.get("Content-Type") || "";
        var read = type.indexOf("json") >= 0 ? r.json() : r.text();
        return read.then(function (data) {
          if (!r.ok) {
            var msg = (data && data.error && data.error.message) || ("The server answered " + r.status);
            throw new Error(msg);
          }
          return data;
        });
      });
    });
  }
  window.doorstepAPI = api;

  function toast(msg, bad) {
    var el = document.getElementById("toast");
    if (!el) return;
    el.textContent = msg;
    el.className = "toast show" + (bad ? " bad" : "");
    clearTimeout(toast.t);
    toast.t = setTimeout(function () { el.className = "toast"; }, 4000);
  }
  window.doorstepToast = toast;

  // fieldValue reads an input by its type: numbers as numbers, checkboxes
  // as booleans, the rest as strings.
  function fieldValue(el) {
    if (el.type === "checkbox") return el.checked;
    if (el.type === "number") return el.value === "" ? null : Number(el.value);
    return el.value;
  }
  // setPath writes obj["a"]["b"] for name "a.b".
  function setPath(obj, name, value) {
    var parts = name.split(".");
    var o = obj;
    for (var i = 0; i < parts.length - 1; i++) {
      if (typeof o[parts[i]] !== "object" || o[parts[i]] === null) o[parts[i]] = {};
      o = o[parts[i]];
    }
    o[parts[parts.length - 1]] = value;
  }
  window.doorstepSetPath = setPath;

  // A form with data-api="PUT /api/admin/settings" sends its named fields.
  // data-merge="GET path" first reads the resource and merges the fields
  // into it, so a page that shows part of a resource never wipes the rest.
  document.addEventListener("submit", function (ev) {
    var form = ev.target;
    var spec = form.getAttribute("data-api");
    if (!spec) return;
    ev.preventDefault();
    var sp = spec.split(" ");
    var btn = form.querySelector("button[type=submit]");
    var status = form.querySelector("[data-status]");
    if (btn) btn.disabled = true;
    if (status) status.textContent = "Saving…";
    var merge = form.getAttribute("data-merge");
    var base = merge ? api("GET", merge.split(" ")[1]) : Promise.resolve({});
    base.then(function (body) {
      Array.prototype.forEach.call(form.elements, function (el) {
        if (!el.name || el.disabled) return;
        if (el.type === "radio" && !el.checked) return;
        var v = fieldValue(el);
        if (el.getAttribute("data-list") !== null) v = String(v).split(",").map(function (s) { return s.trim(); }).filter(Boolean);
        if (el.getAttribute("data-multi") !== null) {
          var cur = [];
          form.querySelectorAll('[name="' + el.name + '"]').forEach(function (x) { if (x.checked) cur.push(x.value); });
          v = cur;
        }
        setPath(body, el.name, v);
      });
      return api(sp[0], sp[1], body);
    }).then(function () {
      if (status) status.textContent = "";
      toast(form.getAttribute("data-done") || "Saved");
      if (form.getAttribute("data-reload") !== null) location.reload();
    }).catch(function (err) {
      if (status) status.textContent = err.message;
      toast(err.message, true);
    }).then(function () {
      if (btn) btn.disabled = false;
    });
  });
})();
