// Drives the running `gait ui` (UI_URL) with headless Chromium: load the page, run the demo,
// wait for run_demo to be listed as verified, exercise verify and the trace filter, and save
// a screenshot. Any failed expectation throws, so node exits non-zero.
import { chromium } from "playwright-core";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const url = process.env.UI_URL;
const profile = process.env.UI_PROFILE || mkdtempSync(join(tmpdir(), "gait-ui-profile-"));
const shot = process.env.UI_SCREENSHOT || join(mkdtempSync(join(tmpdir(), "gait-ui-shot-")), "ui.png");
if (!url) throw new Error("UI_URL is not set");

function expect(cond, msg) {
  if (!cond) throw new Error("expectation failed: " + msg);
}

const context = await chromium.launchPersistentContext(profile, {
  executablePath: "/usr/bin/chromium",
  headless: true,
  viewport: { width: 1360, height: 900 },
  args: [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
  ],
});
const problems = [];
try {
  const page = context.pages()[0] || (await context.newPage());
  page.on("console", (m) => { if (m.type() === "error") problems.push("console: " + m.text()); });
  page.on("pageerror", (e) => problems.push("page error: " + e.message));
  page.on("requestfailed", (r) => problems.push("request failed: " + r.url()));
  // Anything but the server itself would be a network asset the page must not have.
  page.on("request", (r) => { if (!r.url().startsWith(url)) problems.push("foreign request: " + r.url()); });

  const t0 = Date.now();
  await page.goto(url, { waitUntil: "load" });
  await page.locator("#health.up").waitFor({ timeout: 10000 });
  const firstPaint = Date.now() - t0;
  const nav = await page.evaluate(() => {
    const n = performance.getEntriesByType("navigation")[0];
    const m = performance.getEntriesByName("gait:data-rendered")[0];
    return { responseEnd: n.responseEnd, domContentLoaded: n.domContentLoadedEventEnd, load: n.loadEventEnd, data: m ? m.startTime : NaN };
  });
  console.log(`page load: response ${nav.responseEnd.toFixed(1)} ms, DOMContentLoaded ${nav.domContentLoaded.toFixed(1)} ms, load ${nav.load.toFixed(1)} ms, lists rendered ${nav.data.toFixed(1)} ms (${firstPaint} ms as seen by the test)`);
  // Again with the browser warm: what a user sees when reopening the tab.
  const t1 = Date.now();
  await page.reload({ waitUntil: "load" });
  await page.locator("#health.up").waitFor({ timeout: 10000 });
  const warm = Date.now() - t1;
  const [nav2, data2] = await page.evaluate(() => [
    performance.getEntriesByType("navigation")[0].loadEventEnd,
    (performance.getEntriesByName("gait:data-rendered")[0] || { startTime: NaN }).startTime,
  ]);
  console.log(`page reload: load ${nav2.toFixed(1)} ms, lists rendered ${data2.toFixed(1)} ms (${warm} ms as seen by the test)`);
  expect(nav.load < 2000 && nav2 < 2000, "page loads in well under 2 s");
  expect((await page.title()) === "Gait", "page title");
  expect((await page.locator("#workspace").textContent()).length > 1, "workspace shown");
  expect((await page.locator('tr[data-run-id="run_demo"]').count()) === 0, "fresh workspace has no run_demo");

  await page.getByRole("button", { name: /run demo/i }).click();
  const row = page.locator('#runs tr[data-run-id="run_demo"][data-verify="ok"]');
  await row.waitFor({ timeout: 60000 });
  const badge = (await row.locator("[data-verify-badge]").textContent()).trim();
  expect(badge === "verify=ok", `run_demo badge is ${badge}`);
  const status = await page.locator("#out-status").textContent();
  expect(/demo · exit 0/.test(status), `demo result status: ${status}`);
  console.log("run_demo listed with verify=ok");

  await row.getByRole("button", { name: "Verify" }).click();
  await page.locator("#out-status", { hasText: "verify · exit 0" }).waitFor({ timeout: 30000 });
  console.log("one-click verify of gait-out/runpack_run_demo.zip: exit 0");

  await page.getByRole("button", { name: /durable demo/i }).click();
  await page.locator('#packs tr[data-verify="ok"]').first().waitFor({ timeout: 60000 });
  await page.locator('#jobs [data-job-id="job_demo_durable"]').waitFor({ timeout: 30000 });
  console.log("durable demo: job and verified pack listed");

  const traces = await page.locator("#traces tbody tr").count();
  expect(traces >= 2, `expected the seeded traces, found ${traces}`);
  await page.locator('#verdict-filter [data-verdict="block"]').click();
  const blocked = await page.locator("#traces tbody tr").count();
  const nonBlock = await page.locator('#traces tbody tr:not([data-verdict="block"])').count();
  expect(blocked >= 1 && blocked < traces && nonBlock === 0, "verdict filter");
  await page.locator('#verdict-filter [data-verdict=""]').click();
  console.log(`traces: ${traces} listed, ${blocked} blocked`);

  // Let the row highlight fade before the screenshot.
  await page.getByRole("button", { name: /run demo/i }).hover();
  await page.waitForTimeout(1800);
  await page.screenshot({ path: shot, fullPage: true });
  console.log("screenshot: " + shot);
  expect(problems.length === 0, "browser problems:\n  " + problems.join("\n  "));
} finally {
  await context.close();
}
