// The exit procedure page in real Chromium (Debian's /usr/bin/chromium, playwright-core): the
// whole chain is named, the form offers only the allowed next steps, the household's consent is
// recorded through the form, and a refusal without its reason comes back with a Chinese message.
// Screenshots go to SCREENSHOTS.
//
//   node exit_procedure.mjs BASE_URL USERNAME PASSWORD SCREENSHOTS HOUSEHOLD_ID
// Exit status 0 when every check passed; each failure is printed.
import { chromium } from 'playwright-core';
import { mkdtempSync, mkdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const [base, username, password, shots, household] = process.argv.slice(2);
if (!base || !username || !password || !shots || !household) {
  console.error('usage: node exit_procedure.mjs BASE_URL USERNAME PASSWORD SCREENSHOTS HOUSEHOLD_ID');
  process.exit(2);
}
mkdirSync(shots, { recursive: true });
const profile = mkdtempSync(join(tmpdir(), 'bangfu-chromium-'));
const failures = [];
const check = (ok, what) => { if (!ok) { failures.push(what); console.error('FAIL: ' + what); } else { console.log('ok: ' + what); } };

const browser = await chromium.launchPersistentContext(profile, {
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  headless: true,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  viewport: { width: 1280, height: 900 },
  deviceScaleFactor: 1,
  locale: 'zh-CN',
});
const errors = [];
try {
  const page = await browser.newPage();
  // The refused form answers 422 on purpose; Chromium logs that as a failed resource.
  page.on('console', (m) => { if (m.type() === 'error' && !m.text().includes('status of 422')) errors.push(m.text()); });
  page.on('pageerror', (e) => errors.push(String(e)));
  await page.goto(base + '/login', { waitUntil: 'load' });
  await page.fill('input[name="username"]', username);
  await page.fill('input[name="password"]', password);
  await Promise.all([page.waitForNavigation(), page.locator('form button[type="submit"]').first().click()]);

  const url = `${base}/households/${household}/assessment?year=2019`;
  await page.goto(url, { waitUntil: 'load' });
  const chain = await page.locator('#procedure-chain').innerText();
  check(chain.includes('拟退出 → 民主评议 → 村两委和驻村工作队核实 → 贫困户认可 → 公示（不少于 7 天） → 公告 → 销号'),
    `the page names the whole chain (${chain})`);
  const options = await page.locator('select[name="state"] option').allInnerTexts();
  check(JSON.stringify(options) === JSON.stringify(['贫困户认可', '贫困户不认可（程序中止）']),
    `after the verification only consent or refusal is offered (${options})`);
  await page.screenshot({ path: join(shots, 'exit-procedure-verified.png'), fullPage: true });

  // A refusal without its reason: refused in Chinese, nothing recorded.
  await page.selectOption('select[name="state"]', 'refusal');
  await page.fill('input[name="date"]', '2019-11-07');
  await page.fill('input[name="responsible"]', '驻村第一书记 张明');
  const [refused] = await Promise.all([page.waitForNavigation(), page.locator('form.stack-form button[type="submit"]').click()]);
  const body = await page.locator('body').innerText();
  check(refused.status() === 422 && body.includes('贫困户不认可须写明理由'),
    `a refusal without its reason is refused (${refused.status()})`);
  await page.screenshot({ path: join(shots, 'exit-procedure-refused.png'), fullPage: true });

  // The household agrees: recorded, and 公示 is next.
  await page.goto(url, { waitUntil: 'load' });
  await page.selectOption('select[name="state"]', 'consent');
  await page.fill('input[name="date"]', '2019-11-07');
  await page.fill('input[name="responsible"]', '驻村第一书记 张明');
  await Promise.all([page.waitForNavigation(), page.locator('form.stack-form button[type="submit"]').click()]);
  const steps = await page.locator('ol.steps li').allInnerTexts();
  check(steps.length === 4 && steps[3].includes('贫困户认可'), `the consent is recorded (${steps.length} steps)`);
  const next = await page.locator('select[name="state"] option').allInnerTexts();
  check(JSON.stringify(next) === JSON.stringify(['公示']), `公示 comes next (${next})`);
  await page.screenshot({ path: join(shots, 'exit-procedure.png'), fullPage: true });

  check(errors.length === 0, 'no console errors' + (errors.length ? ': ' + errors.join(' | ') : ''));
} catch (e) {
  failures.push(String(e && e.stack ? e.stack : e));
  console.error(e);
} finally {
  await browser.close();
  rmSync(profile, { recursive: true, force: true });
}
if (failures.length) {
  console.error(`${failures.length} browser check(s) failed`);
  process.exit(1);
}
console.log('browser checks passed; screenshots in ' + shots);
