// The Doorstep block on the customer account's order status page: where each
// package is, when it should arrive, Doorstep's tracking page, and the
// points the order earned. The session token names the logged-in customer;
// the app answers only for their own orders (any other order is a 404).
// Contract: GET /api/ext/orders/:id/status in app/extensions_api.go (see
// ../README.md).
import '@shopify/ui-extensions/preact';
import {render} from 'preact';
import {useEffect, useState} from 'preact/hooks';

import {appURL} from './config.js';

export default async () => {
  render(<Extension />, document.body);
};

async function fetchStatus(orderGID) {
  const token = await shopify.sessionToken.get();
  // The path takes the number: an escaped GID's slashes would not route.
  const id = orderGID.split('/').pop();
  const res = await fetch(
    `${appURL(shopify.settings.value)}/api/ext/orders/${encodeURIComponent(id)}/status`,
    {headers: {Authorization: `Bearer ${token}`}},
  );
  if (res.status !== 200) {
    // 401 on the pre-authenticated page (no customer yet), 404 before
    // Doorstep has the order: the block stays empty.
    return null;
  }
  return res.json();
}

// Badge tones by shipment status; a late package is a warning too.
const TONES = {
  delivered: 'success',
  ready_for_pickup: 'success',
  attempted_delivery: 'warning',
  failure: 'critical',
};

function Extension() {
  const t = shopify.i18n.translate;
  const orderGID = shopify.order.value?.id; // "gid://shopify/Order/123"
  const [data, setData] = useState(undefined);

  useEffect(() => {
    if (!orderGID) {
      return;
    }
    fetchStatus(orderGID)
      .then(setData)
      .catch(() => setData(null));
  }, [orderGID]);

  if (!orderGID || data === null) {
    return null;
  }
  if (data === undefined) {
    return <s-spinner accessibilityLabel={t('loading')} />;
  }
  const day = (iso) => shopify.i18n.formatDate(new Date(iso), {dateStyle: 'medium'});
  return (
    <s-section heading={t('heading')}>
      <s-stack gap="base">
        {data.packages.length === 0 && !data.cancelled && <s-paragraph>{t('not_shipped')}</s-paragraph>}
        {data.packages.map((p) => (
          <s-stack gap="small-200" key={p.number}>
            <s-stack direction="inline" gap="small-200">
              {data.packages.length > 1 && (
                <s-text type="strong">{t('package', {number: p.number, count: data.packages.length})}</s-text>
              )}
              <s-badge tone={p.late ? 'warning' : TONES[p.status] || 'neutral'}>{t(`status.${p.status}`)}</s-badge>
            </s-stack>
            {p.delivered_at && <s-text>{t('delivered_on', {date: day(p.delivered_at)})}</s-text>}
            {p.estimated_delivery_at && (
              <s-text>{t(p.late ? 'was_expected' : 'expected', {date: day(p.estimated_delivery_at)})}</s-text>
            )}
            {p.problem && <s-banner tone="warning">{t('problem')}</s-banner>}
            {p.tracking_number && (
              <s-text color="subdued">
                {p.carrier ? `${p.carrier} · ${p.tracking_number}` : p.tracking_number}
              </s-text>
            )}
          </s-stack>
        ))}
        {data.tracking_url && (
          <s-link href={data.tracking_url} target="_blank">
            {t('track')}
          </s-link>
        )}
        {data.points && data.points.earned !== 0 && (
          <s-text>
            {data.points.pending > 0
              ? t('points_pending', {points: data.points.earned, pending: data.points.pending})
              : t('points', {points: data.points.earned})}
          </s-text>
        )}
      </s-stack>
    </s-section>
  );
}
