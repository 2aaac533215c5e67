import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { startStack, type Stack } from '@shutter/testing';

/**
 * The docs as a newcomer sees them: Swagger UI at /docs, rendered by a real headless Chromium
 * (Debian's, installed by scripts/install-system-deps.sh) against the whole stack.
 */

const CANDIDATES = [process.env.CHROMIUM_PATH, '/usr/bin/chromium', '/usr/bin/chromium-browser'].filter((p): p is string => Boolean(p));
const ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

let stack: Stack;
let context: BrowserContext;
let page: Page;
let userDataDir: string;
const pageErrors: string[] = [];
const failedRequests: string[] = [];

beforeAll(async () => {
  const executablePath = CANDIDATES.find((p) => fs.existsSync(p));
  if (!executablePath) {
    throw new Error(`Chromium is not installed (looked for ${CANDIDATES.join(', ')}): run scripts/install-system-deps.sh (or set CHROMIUM_PATH)`);
  }
  stack = await startStack();
  userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'shutter-chromium-'));
  context = await chromium.launchPersistentContext(userDataDir, { executablePath, headless: true, args: ARGS, timeout: 20_000 });
  page = context.pages()[0] ?? (await context.newPage());
  page.on('pageerror', (err) => pageErrors.push(err.message));
  page.on('response', (res) => {
    if (res.url().startsWith(stack.url) && res.status() >= 400) failedRequests.push(`${res.status()} ${res.request().method()} ${res.url()}`);
  });
});

afterAll(async () => {
  await context?.close();
  if (userDataDir) fs.rmSync(userDataDir, { recursive: true, force: true });
  await stack?.stop();
});

/** Opens /docs and waits until Swagger UI has rendered the document's title. */
async function openDocs(): Promise<void> {
  const res = await page.goto(`${stack.url}/docs`, { waitUntil: 'load' });
  // On failure this shows what /docs answered instead (e.g. a 401 when the route is not public).
  expect({ status: res?.status(), body: res && res.status() !== 200 ? await res.text() : undefined }).toEqual({ status: 200, body: undefined });
  await page.locator('.swagger-ui .info .title').waitFor({ timeout: 15_000 });
}

const registerOperation = () => page.locator('.opblock.opblock-post').filter({ has: page.locator('[data-path="/api/users/register"]') });

describe('Swagger UI at /docs', () => {
  it('loads the OpenAPI document and lists the API with its users operations', async () => {
    await openDocs();
    expect(await page.locator('.swagger-ui .info .title').innerText()).toContain('Shutter API');

    const register = registerOperation();
    await register.first().waitFor({ timeout: 10_000 });
    expect(await register.count()).toBe(1);
    expect(await page.locator('.opblock.opblock-post [data-path="/api/users/login"]').count()).toBe(1);
    expect(await page.locator('.opblock.opblock-get [data-path="/api/users/me"]').count()).toBe(1);

    expect(await page.getByText('Failed to load API definition').count()).toBe(0);
    expect(await page.locator('.swagger-ui .errors-wrapper').count()).toBe(0);
    expect(pageErrors).toEqual([]);
    expect(failedRequests).toEqual([]);
  });

  it('expands an operation: its request body schema resolves', async () => {
    await openDocs();
    const register = registerOperation();
    await register.locator('.opblock-summary').first().click({ timeout: 10_000 });
    const body = register.locator('.opblock-body');
    await body.waitFor({ timeout: 10_000 });
    // The example request body is generated from the schema: it names the fields docs/api.md requires.
    const example = body.locator('.body-param__example, .highlight-code').first();
    await example.waitFor({ timeout: 10_000 });
    const text = await example.innerText();
    for (const field of ['email', 'username', 'password']) expect(text).toContain(`"${field}"`);
    // A $ref the UI cannot resolve is reported in an errors box.
    expect(await page.locator('.swagger-ui .errors-wrapper').count()).toBe(0);
    expect(pageErrors).toEqual([]);
  });
});
