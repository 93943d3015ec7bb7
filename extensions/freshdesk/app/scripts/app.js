// Doorstep's Freshdesk sidebar: asks Doorstep about the ticket's requester
// through the doorstepCustomer request template, which adds the connection
// secret from the secure installation parameter, so the secret never
// reaches this page. Everything is written with textContent: the answer
// holds shopper-entered text.
(function () {
  'use strict';

  function text(el, s) { el.textContent = s == null ? '' : String(s); return el; }

  function render(data) {
    var summary = document.getElementById('summary');
    var list = document.getElementById('orders');
    list.replaceChildren();
    text(summary, data.summary || 'No orders for this customer.');
    summary.className = 'muted';
    var orders = Array.isArray(data.orders) ? data.orders : [];
    document.getElementById('orders-title').hidden = orders.length === 0;
    orders.forEach(function (o) {
      var li = document.createElement('li');
      var title = [o.name, o.cancelled ? 'cancelled' : (o.fulfillment_status || o.financial_status),
        o.total ? o.total + ' ' + (o.currency || '') : '', o.delayed ? 'delayed' : ''].filter(Boolean).join(' · ');
      li.appendChild(text(document.createElement('div'), title));
      (Array.isArray(o.packages) ? o.packages : []).forEach(function (p) {
        var row = document.createElement('div');
        row.className = 'muted';
        var eta = p.delivered_at ? 'delivered ' + p.delivered_at.slice(0, 10)
          : (p.estimated_delivery_at ? 'ETA ' + p.estimated_delivery_at.slice(0, 10) : '');
        var status = [p.label, p.status, eta].filter(Boolean).join(' · ');
        if (p.tracking_url && /^https:\/\//.test(p.tracking_url)) {
          var a = text(document.createElement('a'), p.tracking_number || 'Tracking');
          a.href = p.tracking_url;
          a.target = '_blank';
          a.rel = 'noopener';
          row.appendChild(a);
          row.appendChild(document.createTextNode(' ' + status));
        } else {
          text(row, status);
        }
        li.appendChild(row);
      });
      list.appendChild(li);
    });
  }

  function fail(err) {
    var summary = document.getElementById('summary');
    summary.className = 'error';
    text(summary, 'Doorstep is not reachable' + (err && err.status ? ' (HTTP ' + err.status + ')' : '') + '.');
  }

  function load(client) {
    client.data.get('requester').then(function (data) {
      var email = data && data.requester && data.requester.email;
      if (!email) {
        render({});
        return null;
      }
      return client.request.invokeTemplate('doorstepCustomer', { context: { email: email } }).then(function (resp) {
        render(JSON.parse(resp.response));
      });
    }).catch(fail);
  }

  app.initialized().then(function (client) {
    client.events.on('app.activated', function () { load(client); });
  }, fail);
})();
