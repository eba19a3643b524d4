// pages.test.mjs: /docs, /redoc and /playground in headless Chromium through lighttpd, at / and under /api:
// every route shown, no console error, no other host, Try it out, a stream that grows, stop, errors as the envelope says.
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

import { checkout, startServer, TOKEN } from '../e2e/harness.mjs';
import { launch, screenshot, sleep, visit } from './browser.mjs';

const WWW = path.join(checkout, 'www');
const DELAY_MS = 150;  // between the mock's words: slow enough to see each one arrive

let chromium;
before(async () => { chromium = await launch(); });
after(async () => { await chromium?.close(); });

// [METHOD, path] of every operation in the served document.
async function documentedOperations(srv) {
  const doc = await (await fetch(`${srv.url}/openapi.json`)).json();
  const ops = [];
  for (const [p, item] of Object.entries(doc.paths)) for (const m of Object.keys(item)) ops.push([m.toUpperCase(), p]);
  return { doc, ops: ops.sort() };
}

// Send is disabled while a request is on its way: wait for it, then click.
async function send(page) {
  await page.waitForFunction(() => !document.getElementById('send').disabled, { timeout: 30000 });
  await page.click('#send');
}

// The status of the answer to Try it out (the table's header row says "Code").
async function tryItOutStatus(page, op) {
  const sel = `${op} .live-responses-table tr.response .response-col_status`;
  await page.waitForFunction((s) => /^\d{3}/.test(document.querySelector(s)?.textContent.trim() || ''),
    { timeout: 30000 }, sel);
  return page.$eval(sel, (el) => el.textContent.trim());
}

async function authorize(page) {
  await page.click('button.authorize');
  await page.waitForSelector('.auth-container input');
  await page.type('.auth-container input', TOKEN);
  await page.click('.auth-btn-wrapper button.authorize');
  await page.click('.auth-btn-wrapper button.btn-done, button.close-modal');
}

function noErrorsNoOtherHost(seen, what) {
  assert.deepEqual(seen.errors, [], `${what}: console errors`);
  assert.deepEqual(seen.foreignAnswered, [], `${what}: answered by another host`);
}

async function openPlayground(srv, name) {
  const { page, seen } = await visit(chromium.browser, `${srv.url}/playground`, { waitFor: '#key' });
  await page.type('#key', TOKEN);
  await page.$eval('#key', (el) => el.dispatchEvent(new Event('change')));
  await page.waitForFunction(() => document.querySelectorAll('#model option[value="blueprint-standard"]').length === 1,
    { timeout: 30000 });
  return { page, seen, name };
}

for (const mount of ['/', '/api']) {
  describe(`in Chromium, mounted at ${mount}`, () => {
    let srv;
    const tag = mount === '/' ? 'root' : 'api';
    before(async () => {
      srv = await startServer({ mount, env: { DOCS_DIR: WWW, MOCK_STREAM_DELAY_MS: String(DELAY_MS) } });
    });
    after(async () => { await srv.stop(); });

    test('/docs shows every route of the document, with no console error and no other host', async () => {
      const { ops } = await documentedOperations(srv);
      const { page, seen } = await visit(chromium.browser, `${srv.url}/docs`, { waitFor: '.opblock' });
      const shown = (await page.$$eval('.opblock', (els) => els.map((el) => [
        el.querySelector('.opblock-summary-method').textContent.trim(),
        el.querySelector('.opblock-summary-path').getAttribute('data-path')])))
        .sort();
      assert.deepEqual(shown, ops);
      const title = await page.$eval('.info .title', (el) => el.textContent);
      assert.match(title, /openai-fcgi/);
      assert.equal(await page.$('.validator-badge, img[src*="validator"]'), null, 'no validator badge');
      await screenshot(page, `docs-${tag}`);
      noErrorsNoOtherHost(seen, '/docs');
      assert.deepEqual(seen.foreignAsked, [], '/docs asks no other host');
      await page.close();
    });

    test('/docs: Authorize, then Try it out on GET /v1/models answers 200 in the page', async () => {
      const { page, seen } = await visit(chromium.browser, `${srv.url}/docs`, { waitFor: '.opblock' });
      await authorize(page);
      const op = '#operations-Models-listModels';
      await page.click(`${op} .opblock-summary-control`);
      await page.waitForSelector(`${op} .try-out__btn`);
      await page.click(`${op} .try-out__btn`);
      await page.click(`${op} button.execute`);
      assert.match(await tryItOutStatus(page, op), /^200/);
      const body = await page.$eval(`${op} .live-responses-table tr.response .response-col_description`,
        (el) => el.textContent);
      assert.match(body, /"blueprint-standard"/);
      await page.$eval('#operations-Models-listModels', (el) => el.scrollIntoView());
      await screenshot(page, `docs-try-models-${tag}`);
      noErrorsNoOtherHost(seen, '/docs try it out');
      await page.close();
    });

    test('/docs: Try it out on POST /v1/chat/completions, the streamed example too', async () => {
      const { page, seen } = await visit(chromium.browser, `${srv.url}/docs`, { waitFor: '.opblock' });
      await authorize(page);
      const op = '#operations-Chat-createChatCompletion';
      await page.click(`${op} .opblock-summary-control`);
      await page.waitForSelector(`${op} .try-out__btn`);
      await page.click(`${op} .try-out__btn`);
      for (const example of ['hello', 'stream']) {
        await page.waitForSelector(`${op} .examples-select select`);
        await page.select(`${op} .examples-select select`, example);
        await page.click(`${op} button.execute`);
        assert.match(await tryItOutStatus(page, op), /^200/, example);
        const body = await page.$eval(`${op} .live-responses-table tr.response .response-col_description`,
          (el) => el.textContent);
        assert.match(body, example === 'stream' ? /chat\.completion\.chunk[\s\S]*\[DONE\]/ : /"chat\.completion"/, example);
        if (example === 'stream') {
          await page.$eval(`${op} .live-responses-table`, (el) => el.scrollIntoView());
          await screenshot(page, `docs-try-chat-${tag}`);
        }
        await page.click(`${op} button.btn-clear`);
        await page.waitForFunction((sel) => !document.querySelector(`${sel} .live-responses-table tr.response`), {}, op);
      }
      noErrorsNoOtherHost(seen, '/docs chat');
      await page.close();
    });

    test('/redoc renders every operation, and nothing is fetched from another host', async () => {
      const { doc } = await documentedOperations(srv);
      const { page, seen } = await visit(chromium.browser, `${srv.url}/redoc`, { waitFor: '.api-content' });
      const text = await page.$eval('.api-content', (el) => el.textContent);
      for (const item of Object.values(doc.paths)) {
        for (const op of Object.values(item)) assert.ok(text.includes(op.summary), `ReDoc shows "${op.summary}"`);
      }
      await screenshot(page, `redoc-${tag}`);
      // ReDoc's sidebar has a logo <img> on a CDN: the page's CSP keeps it from being fetched.
      assert.deepEqual(seen.foreignAnswered, [], '/redoc: answered by another host');
      const unexpected = seen.errors.filter((e) => !/Content Security Policy/.test(e));
      assert.deepEqual(unexpected, [], '/redoc: console errors other than the CSP refusing the CDN logo');
      await page.close();
    });

    test('/playground streams the answer word by word, in at least three steps', async () => {
      const { page, seen } = await openPlayground(srv);
      await page.select('#model', 'blueprint-standard');
      await page.$eval('#system', (el) => { el.value = 'You are terse.'; el.dispatchEvent(new Event('input')); });
      await send(page);
      const steps = [];
      for (let i = 0; i < 400; i++) {
        const [answer, status] = await page.evaluate(() => [document.getElementById('answer').textContent,
          document.getElementById('status').textContent]);
        if (answer && answer !== steps[steps.length - 1]) steps.push(answer);
        if (status === 'done') break;
        await sleep(25);
      }
      assert.equal(await page.$eval('#status', (el) => el.textContent), 'done');
      assert.ok(steps.length >= 3, `the answer grew in ${steps.length} steps: ${JSON.stringify(steps)}`);
      for (let i = 1; i < steps.length; i++) assert.ok(steps[i].startsWith(steps[i - 1]), 'each step extends the last');
      assert.match(steps[steps.length - 1], /^THIS IS THE MOCKED CHAT RESPONSE/);
      const curl = await page.$eval('#curl', (el) => el.textContent);
      assert.match(curl, new RegExp(`curl -N ${srv.url.replace(/[.]/g, '\\.')}/v1/chat/completions`));
      assert.match(curl, /Bearer \$OPENAI_API_KEY/);
      assert.match(curl, /"role":"system","content":"You are terse\."/);
      const sdk = await page.$eval('#sdk', (el) => el.textContent);
      assert.match(sdk, /from openai import OpenAI/);
      assert.match(sdk, new RegExp(`base_url="${srv.url.replace(/[.]/g, '\\.')}/v1"`));
      // The key lives in the tab's sessionStorage only, never in the page's markup or code.
      assert.equal(await page.evaluate(() => sessionStorage.getItem('openai-fcgi-playground-key')), TOKEN);
      assert.equal(await page.evaluate(() => localStorage.length), 0);
      const markup = await page.evaluate(() => document.documentElement.outerHTML);
      assert.ok(!markup.includes(TOKEN), 'the key is not in the page');
      await screenshot(page, `playground-${tag}`);
      noErrorsNoOtherHost(seen, '/playground');
      assert.deepEqual(seen.foreignAsked, [], '/playground asks no other host');
      await page.close();
    });

    test('/playground: Stop ends the stream, and the server sees the client gone', async () => {
      const { page } = await openPlayground(srv);
      await page.select('#model', 'blueprint-experimental');  // echo: as long as the message
      const words = Array.from({ length: 80 }, (_, i) => `w${i}`).join(' ');
      await page.$eval('#prompt', (el, v) => { el.value = v; }, words);
      await send(page);
      await page.waitForFunction(() => document.getElementById('answer').textContent.split(' ').length >= 3,
        { timeout: 30000 });
      await page.click('#stop');
      await page.waitForFunction(() => document.getElementById('status').textContent === 'stopped', { timeout: 10000 });
      const atStop = await page.$eval('#answer', (el) => el.textContent);
      await sleep(4 * DELAY_MS);
      assert.equal(await page.$eval('#answer', (el) => el.textContent), atStop, 'nothing arrives after Stop');
      assert.ok(atStop.split(' ').length < 80, 'stopped before the end');
      assert.equal(await page.$eval('#send', (el) => el.disabled), false);
      let log = '';
      for (let i = 0; i < 100 && !/POST "[^"]*\/v1\/chat\/completions" 200 .*client_gone/.test(log); i++) {
        await sleep(100);
        log = srv.log();
      }
      assert.match(log, /POST "[^"]*\/v1\/chat\/completions" 200 .*client_gone/);
      await screenshot(page, `playground-stopped-${tag}`);
      await page.close();
    });
  });
}

describe('the playground shows errors as the envelope says', () => {
  let srv;
  before(async () => {
    srv = await startServer({ mount: '/api', env: { DOCS_DIR: WWW, RATE_LIMIT_PER_MINUTE: '3' } });
  });
  after(async () => { await srv.stop(); });

  test('401 with the code, 400 with its param, 429 with the retry time', async () => {
    const { page } = await visit(chromium.browser, `${srv.url}/playground`, { waitFor: '#key' });
    await page.type('#key', 'not-a-configured-key-0123');
    await page.$eval('#key', (el) => el.dispatchEvent(new Event('change')));
    await page.waitForSelector('#error:not([hidden])');
    let error = await page.$eval('#error', (el) => el.textContent);
    assert.match(error, /^401 authentication_error \(invalid_key\)/);

    // The right key (1st request of 3): the models load.
    await page.$eval('#key', (el) => { el.value = ''; });
    await page.type('#key', TOKEN);
    await page.$eval('#key', (el) => el.dispatchEvent(new Event('change')));
    await page.waitForFunction(() => document.querySelectorAll('#model option').length > 1);
    // 2nd: a request the server refuses, with a param: the role as no client should send it.
    const badRole = (r) => {
      if (r.method() === 'POST' && r.url().endsWith('/v1/chat/completions')) {
        const body = JSON.parse(r.postData());
        body.messages[0].role = 'robot';
        r.continue({ postData: JSON.stringify(body) });
      } else r.continue();
    };
    await page.setRequestInterception(true);
    page.on('request', badRole);
    await send(page);
    await page.waitForFunction(() => /^400/.test(document.getElementById('error').textContent));
    error = await page.$eval('#error', (el) => el.textContent);
    assert.match(error, /^400 invalid_request_error/);
    assert.match(error, /param: messages\[0\]\.role/);
    page.off('request', badRole);
    await page.setRequestInterception(false);
    // 3rd passes, the 4th is over the limit of 3 per minute.
    await send(page);
    await page.waitForFunction(() => document.getElementById('status').textContent === 'done', { timeout: 30000 })
      .catch(async (e) => { await screenshot(page, 'playground-debug'); throw e; });
    await send(page);
    await page.waitForFunction(() => /^429/.test(document.getElementById('error').textContent), { timeout: 30000 });
    error = await page.$eval('#error', (el) => el.textContent);
    assert.match(error, /^429 requests \(rate_limit_exceeded\): Rate limit reached/);
    assert.match(error, /Retry in \d+(\.\d)? s\./);
    await screenshot(page, 'playground-429');
    await page.close();
  });
});
