// APP_URL is where Doorstep runs: the host of application_url in
// ../../../shopify.app.toml. The block's "Doorstep URL" setting (checkout
// editor) overrides it; set one or the other before `shopify app deploy`.
export const APP_URL = 'https://doorstep.example.com';

// appURL is the app's origin with no trailing slash.
export function appURL(settings) {
  const configured = ((settings && settings.app_url) || '').trim();
  return (configured || APP_URL).replace(/\/+$/, '');
}
