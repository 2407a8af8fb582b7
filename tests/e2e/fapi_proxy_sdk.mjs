// Clerk's own clerkFrontendApiProxy (@clerk/backend proxy.ts, the version pinned in
// tests/conformance) on one request, for tests/e2e/test_66_fapi_proxy.py to compare with httpd:
//   node fapi_proxy_sdk.mjs '<json: {url, method, headers, publishableKey, secretKey, fapiUrl}>'
// prints {status, headers: [[name, value]...], body} of the SDK's response. The request it makes
// goes to fapiUrl (the test's fake Frontend API on loopback), which records it.
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const sdk = path.join(here, '..', 'conformance', 'node_modules', '@clerk', 'backend', 'dist',
  'proxy.mjs');
const { clerkFrontendApiProxy } = await import(pathToFileURL(sdk).href);

const spec = JSON.parse(process.argv[2]);
const request = new Request(spec.url, { method: spec.method || 'GET', headers: spec.headers });
const response = await clerkFrontendApiProxy(request, {
  proxyPath: '/__clerk',
  publishableKey: spec.publishableKey,
  secretKey: spec.secretKey,
  fapiUrl: spec.fapiUrl,
});
const headers = [];
response.headers.forEach((value, name) => headers.push([name, value]));
for (const c of response.headers.getSetCookie()) headers.push(['set-cookie!', c]);
process.stdout.write(JSON.stringify({ status: response.status, headers,
  body: await response.text() }) + '\n');
