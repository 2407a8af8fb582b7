// One real-browser round trip through Clerk's handshake: Debian's chromium (headless, driven by
// playwright-core, no browser download) opens a protected CGI page holding an expired
// __session cookie, follows the module's 307 to the (fake) Frontend API and back, and must end
// on the page showing the user.
//
//   node handshake.js <page URL> <expired session token> <client_uat> <expected user>
//
// Prints one JSON line (the hops and what the page showed); exits 0 only when the page shows
// the expected REMOTE_USER after exactly one handshake.
'use strict';

const fs = require('fs');
const os = require('os');
const path = require('path');
const { chromium } = require('playwright-core');

const EXECUTABLE = process.env.CLERK_CHROMIUM || '/usr/bin/chromium';
const FLAGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
];
const TIMEOUT_MS = 30000;

async function main() {
  const [url, session, clientUat, user] = process.argv.slice(2);
  if (!user) {
    throw new Error('usage: handshake.js <url> <session> <client_uat> <user>');
  }
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'clerk-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: EXECUTABLE,
    headless: true,
    args: FLAGS,
    timeout: TIMEOUT_MS,
  });
  const hops = [];
  try {
    await context.addCookies([
      { name: '__session', value: session, url },
      { name: '__client_uat', value: clientUat, url },
    ]);
    const page = context.pages()[0] || (await context.newPage());
    page.on('response', (r) => {
      if (r.request().isNavigationRequest()) {
        hops.push({ status: r.status(), url: r.url().split('?')[0] });
      }
    });
    const resp = await page.goto(url, { waitUntil: 'load', timeout: TIMEOUT_MS });
    const text = await page.evaluate(() => document.body.innerText);
    let env = {};
    try {
      env = JSON.parse(text);
    } catch (e) {
      env = { unparsed: text.slice(0, 300) };
    }
    const cookies = (await context.cookies(url)).map((c) => c.name).sort();
    const handshakes = hops.filter((h) => h.url.endsWith('/v1/client/handshake')).length;
    const out = {
      final_status: resp ? resp.status() : 0,
      final_url: page.url(),
      remote_user: env.REMOTE_USER || null,
      handshakes,
      hops,
      cookies,
    };
    console.log(JSON.stringify(out));
    const ok = out.final_status === 200 && out.remote_user === user && handshakes === 1 &&
      cookies.includes('__session');
    process.exitCode = ok ? 0 : 1;
  } finally {
    await context.close();
    fs.rmSync(profile, { recursive: true, force: true });
  }
}

main().catch((e) => {
  console.error(String(e && e.stack ? e.stack : e));
  process.exitCode = 2;
});
