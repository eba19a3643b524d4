// browser.mjs: Debian's Chromium, headless, driven by puppeteer-core (no browser is ever downloaded),
// and a page visit that records console errors and every request to another host.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import puppeteer from 'puppeteer-core';

import { checkout } from '../e2e/harness.mjs';

export const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
export const ARTIFACTS = path.join(process.env.top_builddir || path.join(checkout, 'build-test'), 'artifacts');

// Starts Chromium with a fresh profile; close() stops it by PID and removes the profile.
export async function launch() {
  const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'oaf-chromium-'));
  const browser = await puppeteer.launch({
    executablePath: CHROMIUM,
    headless: true,
    userDataDir,
    defaultViewport: { width: 1280, height: 900 },
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
      '--disable-default-apps', '--disable-extensions'],
  });
  const pid = browser.process()?.pid;
  return {
    browser,
    async close() {
      await browser.close().catch(() => {});
      if (pid) { try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ } }
      fs.rmSync(userDataDir, { recursive: true, force: true });
    },
  };
}

// Opens url in a new tab; seen collects console errors, uncaught errors,
// requests to other hosts and which of them went out (got an answer).
export async function visit(browser, url, { waitFor } = {}) {
  const page = await browser.newPage();
  const origin = new URL(url).origin;
  const seen = { errors: [], foreignAsked: [], foreignAnswered: [] };
  const foreign = (u) => !/^(data|blob|about):/.test(u) && new URL(u).origin !== origin;
  page.on('console', (m) => { if (m.type() === 'error') seen.errors.push(`${m.text()} (${m.location()?.url || ''})`); });
  page.on('pageerror', (e) => seen.errors.push(String(e)));
  page.on('request', (r) => { if (foreign(r.url())) seen.foreignAsked.push(r.url()); });
  page.on('response', (r) => { if (foreign(r.url())) seen.foreignAnswered.push(r.url()); });
  await page.goto(url, { waitUntil: 'networkidle0', timeout: 60000 });
  if (waitFor) await page.waitForSelector(waitFor, { timeout: 60000 });
  return { page, seen };
}

export async function screenshot(page, name) {
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  const file = path.join(ARTIFACTS, `${name}.png`);
  await page.screenshot({ path: file, fullPage: false });
  return file;
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
