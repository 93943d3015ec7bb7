// The Doorstep block on the Shopify admin's order page: the latest entries
// of Doorstep's timeline for the order. The relative URL resolves against
// the app's application_url and Shopify adds the Authorization header (an
// ID token); the app answers from GET /api/admin/orders/:id (app/api_orders.go),
// the same call the embedded admin makes.
import '@shopify/ui-extensions/preact';
import {render} from 'preact';
import {useEffect, useState} from 'preact/hooks';

export default async () => {
  render(<Extension />, document.body);
};

// How many timeline entries the block shows; the embedded admin has them all.
const SHOWN = 8;

const TONES = {failed: 'critical', suppressed: 'warning', deferred: 'warning', sent: 'success', processed: 'success'};

function Extension() {
  const t = shopify.i18n.translate;
  const gid = shopify.data.selected[0]?.id; // "gid://shopify/Order/123"
  const id = gid ? gid.split('/').pop() : '';
  const [order, setOrder] = useState(undefined);

  useEffect(() => {
    if (!id) {
      return;
    }
    fetch(`/api/admin/orders/${encodeURIComponent(id)}`)
      .then((res) => (res.status === 200 ? res.json() : res.status === 404 ? {missing: true} : null))
      .then(setOrder)
      .catch(() => setOrder(null));
  }, [id]);

  let body;
  if (order === undefined) {
    body = <s-spinner accessibilityLabel={t('loading')} />;
  } else if (order === null) {
    body = <s-banner tone="critical">{t('error')}</s-banner>;
  } else if (order.missing) {
    body = <s-text>{t('missing')}</s-text>;
  } else {
    const entries = [...(order.timeline || [])].reverse().slice(0, SHOWN);
    body = (
      <s-stack gap="small-200">
        {entries.length === 0 && <s-text>{t('empty')}</s-text>}
        {entries.map((e, i) => (
          <s-stack direction="inline" gap="small-200" key={i}>
            <s-text color="subdued">
              {shopify.i18n.formatDate(new Date(e.at), {dateStyle: 'short', timeStyle: 'short'})}
            </s-text>
            <s-text>{describe(t, e)}</s-text>
            {e.status && <s-badge tone={TONES[e.status] || 'neutral'}>{e.status}</s-badge>}
          </s-stack>
        ))}
      </s-stack>
    );
  }
  return <s-admin-block heading={t('heading')}>{body}</s-admin-block>;
}

// describe says what a timeline entry is in one line (the embedded admin
// shows the details).
function describe(t, e) {
  switch (e.type) {
    case 'delivery':
      return t('entry.delivery', {topic: e.topic});
    case 'trigger':
      return t('entry.trigger', {kind: e.kind});
    case 'message':
      return t('entry.message', {flow: e.flow, channel: e.channel});
    case 'feedback':
      return t('entry.feedback', {kind: e.feedback_kind});
    case 'ledger':
      return t('entry.ledger', {points: e.points});
    default:
      return e.type;
  }
}
