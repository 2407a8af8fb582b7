// One real-browser navigation (Debian's chromium, headless, driven by playwright-core) with the
// cookies given, following every redirect the way the browser does: for the multi-domain round
// trips (a satellite's sync through its primary, an organization switch) of
// tests/e2e/test_64_multidomain.py, which asserts on what this prints.
//
//   node navigate.js <page URL> '<cookies as JSON: [{"name","value","url"}...]>' ['<options>']
//
// Prints one JSON line: every navigation hop (status, URL), the final status and the final
// page's text parsed as JSON (the env CGI). Exits 0 when the navigation ended; the test judges.
// The optional options JSON (tests/e2e/test_67_browser_multidomain.py) adds:
//   "hostRules": Chromium's --host-resolver-rules, so that distinct host names (two domains with
//                their own cookies) all reach the loopback servers;
//   "then":      more page URLs visited afterwards in the same browser, each reported in "visits"
//                like the first one (a revisit shows the cookies the round trip left working);
//   "cookiesOf": URLs whose cookies the browser holds at the end, reported in "cookies".
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
  const [url, cookiesJson, optionsJson] = process.argv.slice(2);
  if (!cookiesJson) {
    throw new Error("usage: navigate.js <url> '<cookies JSON>' ['<options JSON>']");
  }
  const options = JSON.parse(optionsJson || '{}');
  const args = FLAGS.slice();
  if (options.hostRules) args.push('--host-resolver-rules=' + options.hostRules);
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'clerk-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: EXECUTABLE,
    headless: true,
    args,
    timeout: TIMEOUT_MS,
  });
  let hops = [];
  try {
    const cookies = JSON.parse(cookiesJson);
    if (cookies.length) await context.addCookies(cookies);
    const page = context.pages()[0] || (await context.newPage());
    page.on('response', (r) => {
      if (r.request().isNavigationRequest()) {
        hops.push({ status: r.status(), url: r.url() });
      }
    });
    const visit = async (to) => {
      hops = [];
      const resp = await page.goto(to, { waitUntil: 'load', timeout: TIMEOUT_MS });
      const text = await page.evaluate(() => document.body.innerText);
      let env = {};
      try {
        env = JSON.parse(text);
      } catch (e) {
        env = { unparsed: text.slice(0, 300) };
      }
      return { final_status: resp ? resp.status() : 0, final_url: page.url(), env, hops };
    };
    const out = await visit(url);
    if (options.then) {
      out.visits = [];
      for (const next of options.then) out.visits.push(await visit(next));
    }
    if (options.cookiesOf) {
      out.cookies = {};
      for (const of of options.cookiesOf) out.cookies[of] = await context.cookies(of);
    }
    console.log(JSON.stringify(out));
  } finally {
    await context.close();
    fs.rmSync(profile, { recursive: true, force: true });
  }
}

main().catch((e) => {
  console.error(String(e && e.stack ? e.stack : e));
  process.exitCode = 2;
});
