// The account page in real Chromium (Debian's /usr/bin/chromium, driven by playwright-core):
// log in, open 我的账户 from the user name in the page header, change the password there and
// see the success message, log out, find the old password refused and log in with the new one.
// Screenshots go to SCREENSHOTS (account.png, account-changed.png).
//
//   node account.mjs BASE_URL USERNAME PASSWORD NEW_PASSWORD SCREENSHOTS
// Exit status 0 when every check passed; each failure is printed.
import { chromium } from 'playwright-core';
import { mkdtempSync, mkdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const [base, username, password, newPassword, shots] = process.argv.slice(2);
if (!base || !username || !password || !newPassword || !shots) {
  console.error('usage: node account.mjs BASE_URL USERNAME PASSWORD NEW_PASSWORD SCREENSHOTS');
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
// Chromium logs every 4xx document as a console error; these two refusals are what the test
// asks for (a mismatched new password: 422; the old password after the change: 401).
const expected = [/status of 422 .*\/account\/password\)$/, /status of 401 .*\/login\)$/];
function watch(page) {
  page.on('console', (m) => {
    if (m.type() !== 'error') { return; }
    const line = m.text() + ' (' + (m.location().url || page.url()) + ')';
    if (!expected.some((re) => re.test(line))) { errors.push(line); }
  });
  page.on('pageerror', (e) => errors.push(String(e)));
  page.on('requestfailed', (r) => errors.push('request failed: ' + r.url()));
  return page;
}

async function logIn(page, secret) {
  await page.goto(base + '/login', { waitUntil: 'load' });
  await page.fill('input[name="username"]', username);
  await page.fill('input[name="password"]', secret);
  await Promise.all([page.waitForNavigation(), page.locator('form.login-form button[type="submit"]').click()]);
}

try {
  const page = watch(await browser.newPage());
  await logIn(page, password);
  const who = page.locator('.account a.who');
  check(await who.count() === 1 && (await who.innerText()).includes(username), 'the header names the logged-in user as a link');
  await Promise.all([page.waitForNavigation(), who.click()]);
  check(new URL(page.url()).pathname === '/account', `the user name leads to the account page (${page.url()})`);
  const facts = await page.locator('dl.facts').innerText();
  check(facts.includes('县级干部') && facts.includes('紫金县'), `the account page shows role and scope (${facts.replace(/\s+/g, ' ')})`);

  // A slip in the repeated password: refused, with the message next to the field.
  await page.fill('#current_password', password);
  await page.fill('#new_password', newPassword);
  await page.fill('#new_password_again', newPassword + 'x');
  await Promise.all([page.waitForNavigation(), page.locator('form.login-form button[type="submit"]').click()]);
  check((await page.locator('.field-error').allInnerTexts()).join(' ').includes('两次输入的新密码不一致'), 'a mismatch is shown');

  await page.fill('#current_password', password);
  await page.fill('#new_password', newPassword);
  await page.fill('#new_password_again', newPassword);
  await page.screenshot({ path: join(shots, 'account.png'), fullPage: true });
  await Promise.all([page.waitForNavigation(), page.locator('form.login-form button[type="submit"]').click()]);
  const success = page.locator('p.success');
  check(await success.count() === 1 && (await success.innerText()).includes('密码已修改'), 'the success message is shown');
  await page.screenshot({ path: join(shots, 'account-changed.png'), fullPage: true });

  // Still logged in here; log out with the header's button.
  await Promise.all([page.waitForNavigation(), page.locator('form.logout button').click()]);
  check(new URL(page.url()).pathname === '/login', 'logged out');

  await logIn(page, password);
  check((await page.locator('.error-message').innerText()).includes('用户名或密码错误'), 'the old password is refused');
  await logIn(page, newPassword);
  check(await page.locator('.account a.who').count() === 1, 'the new password logs in');

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
