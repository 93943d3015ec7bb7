// A stand-in for Shopify's App Bridge, for the demo only (there is no
// Shopify admin around it): shopify.idToken() asks the demo for a session
// token, and on the bounce page it reloads the page with a fresh one, the
// way App Bridge does.
(function () {
  "use strict";
  function idToken() {
    return fetch("/demo/session-token", { cache: "no-store" }).then(function (r) {
      if (!r.ok) throw new Error("no demo session token");
      return r.text();
    });
  }
  window.shopify = {
    idToken: idToken,
    toast: { show: function (msg) { if (window.doorstepToast) window.doorstepToast(msg); } }
  };
  var reload = new URLSearchParams(location.search).get("shopify-reload");
  if (reload) {
    idToken().then(function (t) {
      var u = new URL(reload, location.origin);
      if (u.origin !== location.origin) return;
      u.searchParams.set("id_token", t);
      location.replace(u.toString());
    });
  }
})();
