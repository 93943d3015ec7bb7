/* Doorstep rewards block (blocks/rewards.liquid), plain ES2017. Fills each [data-doorstep-rewards]
 * from the app proxy: GET /rewards, POST /redeem, POST /profile. Server text goes in as text only. */
(() => {
  'use strict';
  if (window.doorstepRewards) return; // the block can be on a page twice
  window.doorstepRewards = true;

  let uid = 0;
  const newId = () => 'doorstep-rewards-' + ++uid;
  // h('p', {class: '__x'}, 'text') is <p class="doorstep-rewards__x">text</p>.
  const h = (tag, attrs, ...kids) => {
    const n = document.createElement(tag);
    for (const k in attrs || {}) {
      const v = attrs[k];
      if (v != null && v !== false) n.setAttribute(k, v === true ? '' : k === 'class' ? v.replace(/(^| )__/g, '$1doorstep-rewards__') : v);
    }
    kids.forEach((c) => c != null && c !== '' && n.append(c));
    return n;
  };
  const num = (v) => ((typeof v === 'number' || (typeof v === 'string' && v.trim())) && isFinite(v) ? Number(v) : null);
  const str = (v) => typeof v === 'string' && v.trim() !== '';
  const obj = (v) => (v && typeof v === 'object' && !Array.isArray(v) ? v : null);
  const list = (v) => (Array.isArray(v) ? v : []);
  const time = (v) => (typeof v === 'string' && Date.parse(v)) || null;
  const live = () => h('p', { class: '__status', role: 'status', 'aria-live': 'polite' });
  const muted = (text) => h('p', { class: '__muted' }, text);

  const mount = (root) => {
    const base = root.getAttribute('data-endpoint') || '/apps/doorstep';
    let locale = root.getAttribute('data-locale') || 'en';
    try { new Intl.NumberFormat(locale); } catch (e) { locale = 'en'; }
    const fmt = (v) => new Intl.NumberFormat(locale).format(v);
    const money = (amount, currency) => {
      const v = num(amount);
      if (v === null) return '';
      try { return new Intl.NumberFormat(locale, { style: 'currency', currency }).format(v); } catch (e) { return v + (str(currency) ? ' ' + currency : ''); }
    };
    // t('next_tier', {tier}) is data-t-next_tier with "[tier]" filled in.
    const t = (key, vars) => (root.getAttribute('data-t-' + key) || '').replace(/\[(\w+)\]/g, (m, k) => (vars && vars[k] != null ? vars[k] : m));

    // Resolves to a 2xx's JSON; rejects with the message to show.
    const api = async (path, body) => {
      const opts = { credentials: 'same-origin', headers: { Accept: 'application/json' } };
      if (body) {
        opts.method = 'POST';
        opts.headers['Content-Type'] = 'application/json';
        opts.body = JSON.stringify(body);
      }
      let res, data;
      try { res = await fetch(base + path, opts); } catch (e) { throw new Error(t('error')); }
      try { data = await res.json(); } catch (e) { data = null; }
      if (res.ok && obj(data)) return data;
      const err = obj(data) && obj(data.error);
      throw new Error(err && str(err.message) ? err.message : t('error'));
    };

    const section = (key, ...kids) => {
      const id = newId();
      const heading = h('h3', { id, tabindex: '-1' }, t(key));
      root.append(h('section', { class: '__section', 'aria-labelledby': id }, heading, ...kids));
      return heading;
    };

    const copyButton = (text, target, out) => {
      const b = h('button', { type: 'button', class: '__button __button--quiet', 'aria-label': t('copy') + ' ' + text }, t('copy'));
      b.addEventListener('click', async () => {
        try {
          await navigator.clipboard.writeText(text);
          out.textContent = t('copied');
        } catch (e) {
          if (target.select) target.select(); else getSelection().selectAllChildren(target);
          out.textContent = t('copy_failed');
        }
      });
      return b;
    };

    let data, balanceEl, buttons, redeemStatus, codes;
    let busy = false;

    // In flight: aria-disabled, not disabled, which would drop the focus.
    const update = () => {
      const bal = num(data.balance);
      balanceEl.textContent = bal === null ? '–' : fmt(bal);
      buttons.forEach((b) => {
        b.disabled = bal === null || Number(b.getAttribute('data-points')) > bal;
        b.setAttribute('aria-disabled', String(busy || b.disabled));
      });
    };

    const redeem = async (points, button) => {
      if (busy) return; // no double submit
      busy = true;
      update();
      redeemStatus.textContent = '';
      let copy;
      try {
        const r = await api('/redeem', { points });
        const bal = num(r.balance);
        if (bal !== null) data.balance = bal;
        // 202 {"status": "pending", "message", "balance"}: no code yet.
        if (!str(r.code)) throw new Error(str(r.message) ? r.message : t('error'));
        if (bal === null && num(data.balance) !== null) data.balance -= points;
        const code = h('code', { class: '__code' }, r.code);
        copy = copyButton(r.code, code, redeemStatus);
        codes.prepend(h('li', null, t('code_label') + ': ', code, ' ', copy));
        redeemStatus.textContent = t('redeem_success', { amount: money(r.amount, r.currency), code: r.code });
      } catch (e) {
        redeemStatus.textContent = e.message;
      }
      busy = false;
      update();
      if (copy && button.disabled) copy.focus();
    };

    const renderSummary = () => {
      balanceEl = h('dd', { class: '__balance' });
      const dl = h('dl', { class: '__summary' }, h('div', null, h('dt', null, t('balance')), balanceEl));
      const row = (label, ...value) => dl.append(h('div', null, h('dt', null, label), h('dd', null, ...value)));
      if (num(data.pending) > 0) row(t('pending'), fmt(data.pending));
      if (num(data.debt) > 0) row(t('debt'), fmt(data.debt));
      const tier = obj(data.tier);
      const mult = tier && num(tier.multiplier);
      if (tier && str(tier.name)) row(t('tier'), tier.name, mult && mult !== 1 ? h('span', { class: '__note' }, t('multiplier', { multiplier: fmt(mult) })) : '');
      root.append(dl);
      const next = obj(data.next_tier);
      if (next && str(next.name) && num(next.spend_needed) !== null) {
        root.append(h('p', null, t('next_tier', { amount: money(next.spend_needed, next.currency), tier: next.name })));
      }
      const pv = obj(data.points_value);
      if (pv && num(pv.points) > 0 && num(pv.amount) !== null) {
        root.append(muted(t('points_value', { points: fmt(pv.points), amount: money(pv.amount, pv.currency) })));
      }
    };

    const renderRedeem = () => {
      const ul = h('ul', { class: '__options' });
      buttons = list(data.redeem_options).filter((o) => obj(o) && num(o.points) > 0).map((o) => {
        const points = num(o.points);
        const amount = money(o.amount, o.currency);
        const label = amount ? t('redeem_button', { points: fmt(points), amount }) : t('points', { points: fmt(points) });
        const b = h('button', { type: 'button', class: '__button', 'data-points': points }, label);
        b.addEventListener('click', () => redeem(points, b));
        ul.append(h('li', null, b));
        return b;
      });
      redeemStatus = live();
      codes = h('ul', { class: '__codes' });
      section('redeem_heading', buttons.length ? ul : muted(t('redeem_none')), redeemStatus, codes);
    };

    const renderHistory = () => {
      const dates = new Intl.DateTimeFormat(locale, { year: 'numeric', month: 'short', day: 'numeric' });
      const entries = list(data.history).filter(obj).sort((a, b) => time(b.at) - time(a.at)).slice(0, 5);
      const ul = h('ul', { class: '__history' });
      entries.forEach((e) => {
        const p = num(e.points);
        ul.append(h('li', null,
          time(e.at) ? h('time', { datetime: e.at }, dates.format(time(e.at))) : '',
          h('span', null, str(e.description) ? e.description : ''),
          p === null ? '' : h('span', { class: '__points' }, t('points', { points: (p > 0 ? '+' : '') + fmt(p) })),
          e.pending === true ? h('span', { class: '__badge' }, t('history_pending')) : ''));
      });
      section('history_heading', entries.length ? ul : muted(t('history_empty')));
    };

    const renderReferral = () => {
      const r = obj(data.referral);
      if (root.getAttribute('data-show-referral') !== 'true' || !r || !str(r.link)) return;
      const id = newId();
      const out = live();
      const input = h('input', { id, type: 'text', readonly: true, value: r.link, class: '__input' });
      section('referral_heading',
        str(r.reward) && str(r.referee_discount) ? h('p', null, t('referral_text', { discount: r.referee_discount, reward: r.reward })) : '',
        h('label', { for: id }, t('referral_link')),
        h('div', { class: '__row' }, input, copyButton(r.link, input, out)), out);
    };

    const renderBirthday = () => {
      if (data.birthday !== null) return; // known, or not asked (absent)
      const out = live();
      const months = new Intl.DateTimeFormat(locale, { month: 'long', timeZone: 'UTC' });
      const select = (key, count, label) => {
        const id = newId();
        const s = h('select', { id, name: key, required: true }, h('option', { value: '' }, t('choose')));
        for (let i = 1; i <= count; i++) s.append(h('option', { value: String(i).padStart(2, '0') }, label(i)));
        return [h('div', { class: '__field' }, h('label', { for: id }, t(key)), s), s];
      };
      const [monthField, month] = select('month', 12, (i) => months.format(Date.UTC(2000, i - 1, 1)));
      const [dayField, day] = select('day', 31, String);
      const save = h('button', { type: 'submit', class: '__button' }, t('birthday_save'));
      const form = h('form', { class: '__birthday', novalidate: true },
        h('p', null, t('birthday_intro')), h('div', { class: '__row' }, monthField, dayField), save);
      const heading = section('birthday_heading', form, out);
      let saving = false;
      form.addEventListener('submit', async (ev) => {
        ev.preventDefault();
        const m = Number(month.value);
        const d = Number(day.value);
        if (saving) return;
        if (!m || !d || d > new Date(Date.UTC(2000, m, 0)).getUTCDate()) { // 2000 has a 02-29
          out.textContent = t('birthday_invalid');
          return;
        }
        saving = true;
        save.setAttribute('aria-disabled', 'true');
        out.textContent = '';
        try {
          await api('/profile', { birthday: month.value + '-' + day.value });
          form.remove();
          out.textContent = t('birthday_thanks');
          heading.focus();
        } catch (e) {
          out.textContent = e.message;
        }
        saving = false;
        save.removeAttribute('aria-disabled');
      });
    };

    const status = root.parentNode.querySelector('.doorstep-rewards__status');
    api('/rewards').then((d) => {
      data = d;
      root.textContent = '';
      renderSummary();
      renderRedeem();
      renderHistory();
      renderReferral();
      renderBirthday();
      update();
    }, () => {
      root.textContent = '';
      if (status) status.textContent = t('load_error');
    });
  };

  const init = () => document.querySelectorAll('[data-doorstep-rewards]:not([data-ready])').forEach((el) => {
    el.setAttribute('data-ready', '');
    mount(el);
  });
  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', init);
  else init();
  document.addEventListener('shopify:section:load', init); // theme editor
})();
