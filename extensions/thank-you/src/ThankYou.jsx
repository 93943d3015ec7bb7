// The Doorstep block on the thank-you page: the customer's referral link
// and a one-question survey. Every call carries the checkout session token;
// the app takes the shop and the customer from it, never from what we send.
// Contract: GET /api/ext/thank-you and POST /api/ext/survey in
// app/extensions_api.go (see ../README.md).
import '@shopify/ui-extensions/preact';
import {render} from 'preact';
import {useEffect, useState} from 'preact/hooks';

import {appURL} from './config.js';

export default async () => {
  render(<Extension />, document.body);
};

// The thank-you page can open before Doorstep has the order (the webhook is
// a few seconds behind): a survey answer is retried this many times.
const RETRIES = 3;
const RETRY_DELAY_MS = 3000;

async function call(path, {method = 'GET', body} = {}) {
  const token = await shopify.sessionToken.get();
  const headers = {Authorization: `Bearer ${token}`};
  if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
  }
  const res = await fetch(appURL(shopify.settings.value) + path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  let json = null;
  try {
    json = await res.json();
  } catch {
    // An empty or non-JSON answer: the status says enough.
  }
  return {status: res.status, json};
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function Extension() {
  const t = shopify.i18n.translate;
  // "gid://shopify/OrderIdentity/123": the app reads the number.
  const orderId = shopify.orderConfirmation.value?.order?.id;
  const [data, setData] = useState(null);
  const [failed, setFailed] = useState(false);

  useEffect(() => {
    if (!orderId) {
      return;
    }
    call(`/api/ext/thank-you?order_id=${encodeURIComponent(orderId)}`)
      .then((r) => (r.status === 200 ? setData(r.json) : setFailed(true)))
      .catch(() => setFailed(true));
  }, [orderId]);

  // Nothing beats a broken card on a page the shopper just paid on.
  if (!orderId || failed) {
    return null;
  }
  if (!data) {
    return <s-spinner accessibilityLabel={t('loading')} />;
  }
  return (
    <s-stack gap="large">
      {data.referral && <Referral referral={data.referral} />}
      <Survey orderId={orderId} survey={data.survey} />
    </s-stack>
  );
}

function Referral({referral}) {
  const t = shopify.i18n.translate;
  return (
    <s-stack gap="base">
      <s-heading>{t('referral.heading')}</s-heading>
      <s-paragraph>
        {t('referral.text', {discount: referral.referee_discount, reward: referral.reward})}
      </s-paragraph>
      <s-text-field label={t('referral.link_label')} value={referral.link} readOnly />
      <s-clipboard-item id="doorstep-referral-link" text={referral.link} />
      <s-button commandFor="doorstep-referral-link">{t('referral.copy')}</s-button>
    </s-stack>
  );
}

function Survey({orderId, survey}) {
  const t = shopify.i18n.translate;
  const [answer, setAnswer] = useState('');
  const [other, setOther] = useState('');
  const [state, setState] = useState(survey.answered ? 'done' : 'idle'); // idle, sending, done
  const [error, setError] = useState('');

  if (state === 'done') {
    return <s-banner tone="success">{t('survey.thanks')}</s-banner>;
  }

  async function submit() {
    setState('sending');
    setError('');
    const body = {order_id: orderId, answer};
    if (answer === 'other') {
      body.other = other;
    }
    try {
      for (let attempt = 0; ; attempt++) {
        const r = await call('/api/ext/survey', {method: 'POST', body});
        if (r.status === 200 || r.status === 201) {
          setState('done');
          return;
        }
        const code = r.json?.error?.code;
        if (code === 'order_not_found' && attempt < RETRIES) {
          await sleep(RETRY_DELAY_MS);
          continue;
        }
        setError(code === 'invalid_answer' ? r.json.error.message : t('survey.error'));
        setState('idle');
        return;
      }
    } catch {
      setError(t('survey.error'));
      setState('idle');
    }
  }

  const ready = answer !== '' && (answer !== 'other' || other.trim() !== '');
  return (
    <s-stack gap="base">
      <s-heading>{t('survey.heading')}</s-heading>
      <s-choice-list
        name="heard_about"
        label={t('survey.question')}
        onChange={(event) => setAnswer(event.currentTarget.values[0] || '')}
      >
        {survey.choices.map((choice) => (
          <s-choice value={choice} key={choice}>
            {t(`survey.choice.${choice}`)}
          </s-choice>
        ))}
      </s-choice-list>
      {answer === 'other' && (
        <s-text-field
          label={t('survey.other_label')}
          maxLength={survey.other_max}
          value={other}
          onInput={(event) => setOther(event.currentTarget.value)}
        />
      )}
      {error && <s-banner tone="critical">{error}</s-banner>}
      <s-button variant="primary" disabled={!ready} loading={state === 'sending'} onClick={submit}>
        {t('survey.submit')}
      </s-button>
    </s-stack>
  );
}
