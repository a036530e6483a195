/**
 * Server hardening (issue 13 item 8): static files cannot leave the served folder (symbolic links included), caps on
 * open connections (in all and per client) answered with 503, a Host-header allow-list against DNS rebinding,
 * header/request/idle timeouts against slow clients, the bearer token, no request decompression, rate limits.
 */
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startServer, type RunningServer } from '../../src/server/app.js';
import { bearerMatches } from '../../src/server/security.js';
import { fakeAnalyzers, idleSocket, makeRoot, rawRequest, socketExchange, waitFor } from './helpers.js';

const SECRET = 'top-secret-outside-the-root';
let root: string;

beforeAll(() => {
  root = makeRoot();
  const outside = join(dirname(root), 'outside');
  mkdirSync(outside);
  writeFileSync(join(outside, 'secret.txt'), SECRET);
  symlinkSync(join(outside, 'secret.txt'), join(root, 'leak.txt'));
  symlinkSync(outside, join(root, 'leakdir'));
  symlinkSync('/etc/passwd', join(root, 'passwd.txt'));
  symlinkSync(join(root, 'index.html'), join(root, 'inside.html'));
  symlinkSync(join(root, 'loop-a'), join(root, 'loop-b'));
  symlinkSync(join(root, 'loop-b'), join(root, 'loop-a'));
});

const start = (extra: Parameters<typeof startServer>[0] extends infer O ? Partial<O> : never = {}): Promise<RunningServer> =>
  startServer({ root, port: 0, warmUp: false, createAnalyzer: fakeAnalyzers(), rateLimitPerMinute: 0, ...extra });

describe('static files stay inside the served folder', () => {
  let s: RunningServer;
  beforeAll(async () => { s = await start(); });
  afterAll(async () => { await s.close(); });

  test.each([
    ['/leak.txt', 403], ['/leakdir/secret.txt', 403], ['/passwd.txt', 403], ['/loop-a', 404],
    ['/..%2Foutside%2Fsecret.txt', 403], ['/%2e%2e/outside/secret.txt', 404], ['/ort/%2e%2e/%2e%2e/outside/secret.txt', 404], ['/ort/..%2F..%2Foutside/secret.txt', 403],
    ['/a%00.html', 400], ['/%E0%A4%A', 400],
  ])('GET %s → %i, and nothing of the outside file', async (path, status) => {
    const res = await rawRequest(s.port, path, { headers: { host: '127.0.0.1' } });
    expect(res.status).toBe(status);
    expect(res.body).not.toContain(SECRET);
    expect(res.body).not.toContain('root:x:0');
    expect(res.headers['content-type']).toBe('application/problem+json; charset=utf-8');
    expect(res.headers['cross-origin-embedder-policy']).toBe('require-corp');
  });

  test('dot files are not served (403 E_FORBIDDEN)', async () => {
    writeFileSync(join(root, '.env'), 'SECRET=1');
    const res = await fetch(`${s.url}.env`);
    expect([res.status, (await res.json()).code]).toEqual([403, 'E_FORBIDDEN']);
  });

  test('a link to a file inside the folder is served', async () => {
    const res = await fetch(`${s.url}inside.html`);
    expect(res.status).toBe(200);
    expect(await res.text()).toContain('<title>app</title>');
  });
});

describe('connection caps', () => {
  test('over the per-client cap: a complete 503 E_BUSY with Retry-After; another client and later requests get through', async () => {
    const s = await start({ maxConnections: 100, maxConnectionsPerClient: 3 });
    const idle: Socket[] = [];
    try {
      for (let i = 0; i < 3; i++) idle.push(await idleSocket(s.port));
      await waitFor(() => s.connections.open === 3);
      const refused = await rawRequest(s.port, '/', { headers: { host: '127.0.0.1' } });
      expect(refused.status).toBe(503);
      expect(refused.headers['retry-after']).toBe('5');
      expect(JSON.parse(refused.body)).toMatchObject({ status: 503, code: 'E_BUSY', detail: expect.stringMatching(/limit 3 per client/) });
      // 127.0.0.2 is another loopback address of this machine: another client of the same server on 127.0.0.1.
      const other = await rawRequest(s.port, '/', { headers: { host: '127.0.0.1' }, localAddress: '127.0.0.2' }).catch(() => null);
      if (other) expect(other.status).toBe(200);
      for (const sock of idle.splice(0)) sock.destroy();
      await waitFor(() => s.connections.open === 0);
      expect((await rawRequest(s.port, '/', { headers: { host: '127.0.0.1' } })).status).toBe(200);
      expect(s.connections.refused).toBe(1);
    } finally {
      for (const sock of idle) sock.destroy();
      await s.close();
    }
  });

  test('over the total cap: 503 E_BUSY naming the limit', async () => {
    const s = await start({ maxConnections: 4, maxConnectionsPerClient: 100 });
    const idle: Socket[] = [];
    try {
      for (let i = 0; i < 4; i++) idle.push(await idleSocket(s.port));
      await waitFor(() => s.connections.open === 4);
      const refused = await rawRequest(s.port, '/healthz', { headers: { host: '127.0.0.1' } });
      expect(refused.status).toBe(503);
      expect(JSON.parse(refused.body).detail).toMatch(/too many open connections \(limit 4\)/);
    } finally {
      for (const sock of idle) sock.destroy();
      await s.close();
    }
  });

  test('300 idle sockets with a cap of 50: the server keeps answering once they are refused', async () => {
    const s = await start({ maxConnections: 50, maxConnectionsPerClient: 50 });
    const idle: Socket[] = [];
    try {
      for (let i = 0; i < 300; i++) idle.push(await idleSocket(s.port));
      await waitFor(() => s.connections.refused >= 250);
      expect(s.connections.open).toBe(50);
      for (const sock of idle.splice(0, 10)) sock.destroy();
      await waitFor(() => s.connections.open <= 40);
      expect((await rawRequest(s.port, '/healthz', { headers: { host: '127.0.0.1' } })).status).toBe(200);
    } finally {
      for (const sock of idle) sock.destroy();
      await s.close();
    }
  });
});

describe('a 2 GB upload', () => {
  const GiB = 1024 * 1024 * 1024;
  /** A request body of `total` bytes made on demand, 1 MiB at a time; `pulled()` says how much the upload read. */
  const hugeBody = (total: number): { stream: ReadableStream<Uint8Array>; pulled: () => number } => {
    const chunk = new Uint8Array(1024 * 1024).fill(0xff);
    let sent = 0;
    return {
      stream: new ReadableStream({
        pull(c) {
          if (sent >= total) { c.close(); return; }
          sent += chunk.length;
          c.enqueue(chunk.slice());
        },
      }),
      pulled: () => sent,
    };
  };
  /**
   * Posts a streamed body; resolves to the status, or to the error code when the server closed the connection while
   * the client was still sending. After its 413 the server closes with a lingering close (it keeps reading and dropping
   * for up to 2 s or 16 MiB), so a client busy writing reads the answer rather than a reset.
   */
  const post = async (url: string, type: string, body: ReadableStream<Uint8Array> | null): Promise<number | string> => {
    const ac = new AbortController();
    try {
      const res = await fetch(url, { method: 'POST', headers: { 'content-type': type }, body, duplex: 'half', signal: ac.signal } as RequestInit);
      await res.text().catch(() => '');
      return res.status;
    } catch (err) {
      const cause = (err as { cause?: { code?: string } }).cause;
      return cause?.code ?? String(err);
    } finally {
      ac.abort(); // stop sending the rest
    }
  };

  test('declared (Content-Length: 2 GB) → 413 before a byte is read; streamed → cut at the limit; the server stays well', async () => {
    const s = await start({ maxVideoBytes: 8 * 1024 * 1024 });
    try {
      const rss0 = process.memoryUsage().rss;
      // Declared: refused from the header (raw socket, so that the 2 GB never has to be sent).
      for (const [path, type] of [['/v1/analyze', 'image/jpeg'], ['/v1/videos', 'video/mp4']] as const) {
        const res = await rawRequest(s.port, path, { method: 'POST', headers: { host: '127.0.0.1', 'content-type': type, 'content-length': String(2 * GiB) }, body: Buffer.alloc(0) })
          .catch((err: Error) => ({ status: -1, body: err.message, headers: {} }));
        expect([path, res.status]).toEqual([path, 413]);
        expect(JSON.parse(res.body)).toMatchObject({ code: 'E_TOO_LARGE' });
      }
      // Streamed without a length (chunked): the image route stops reading at --max-upload-mb (20 MiB), the video
      // route at --max-video-mb (8 MiB here), and only that much (plus socket buffers) was ever taken from the sender.
      for (let i = 0; i < 3; i++) {
        const image = hugeBody(2 * GiB);
        expect(await post(`${s.url}v1/analyze`, 'image/jpeg', image.stream)).toBe(413);
        expect(image.pulled()).toBeLessThan(128 * 1024 * 1024);
        const video = hugeBody(2 * GiB);
        expect(await post(`${s.url}v1/videos`, 'video/mp4', video.stream)).toBe(413);
        expect(video.pulled()).toBeLessThan(128 * 1024 * 1024);
      }
      // Nothing was buffered whole, and the server answers as before.
      expect(process.memoryUsage().rss - rss0).toBeLessThan(512 * 1024 * 1024);
      expect((await fetch(`${s.url}healthz`)).status).toBe(200);
      expect((await fetch(`${s.url}v1/sessions`)).status).toBe(200);
    } finally {
      await s.close();
    }
  }, 120_000);
});

describe('Host header allow-list (DNS rebinding)', () => {
  let s: RunningServer;
  beforeAll(async () => { s = await start({ allowedHosts: ['ferkit.lan'] }); });
  afterAll(async () => { await s.close(); });

  test.each(['127.0.0.1', 'localhost', '[::1]', 'LOCALHOST', 'ferkit.lan'])('Host: %s:<port> is answered', async (h) => {
    const res = await rawRequest(s.port, '/healthz', { headers: { host: `${h}:${s.port}` } });
    expect(res.status).toBe(200);
  });

  test('no Host header at all (HTTP/1.0) → 403; HTTP/1.1 without Host → 400', async () => {
    const r10 = await socketExchange(s.port, [{ text: 'GET /healthz HTTP/1.0\r\n\r\n' }]);
    expect(r10.data).toMatch(/^HTTP\/1\.1 403/);
    expect(r10.data).toContain('E_HOST');
    const r11 = await socketExchange(s.port, [{ text: 'GET /healthz HTTP/1.1\r\n\r\n' }]);
    expect(r11.data).toMatch(/^HTTP\/1\.1 400/);
  });

  test.each(['evil.example', 'attacker.com:80', '127.0.0.1.nip.io', 'localhost.evil.example', 'localhost@evil.example'])('Host: %j → 403 E_HOST, nothing served', async (h) => {
    for (const path of ['/', '/v1/sessions', '/healthz']) {
      const res = await rawRequest(s.port, path, { headers: { host: h } });
      expect(res.status).toBe(403);
      expect(JSON.parse(res.body)).toMatchObject({ code: 'E_HOST' });
      expect(res.body).not.toContain('<title>app</title>');
    }
  });
});

describe('timeouts against slow clients', () => {
  let s: RunningServer;
  beforeAll(async () => { s = await start({ headersTimeoutMs: 600, requestTimeoutMs: 1500, idleTimeoutMs: 1500, timeoutCheckMs: 100 }); });
  afterAll(async () => { await s.close(); });

  test('slow-loris headers (one header line every 200 ms, never finished) → 408 and closed', async () => {
    const chunks = [{ text: 'GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n' }, ...Array.from({ length: 40 }, (_, i) => ({ text: `X-Slow-${i}: a\r\n`, afterMs: 200 }))];
    const r = await socketExchange(s.port, chunks, 8000);
    expect(r.closedByServer).toBe(true);
    expect(r.data).toMatch(/^HTTP\/1\.1 408/);
    expect(r.closedAfterMs).toBeLessThan(3000);
  });

  test('a body sent a byte at a time past the request timeout → closed', async () => {
    const head = 'POST /v1/sessions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n';
    const r = await socketExchange(s.port, [{ text: head }, ...Array.from({ length: 60 }, () => ({ text: ' ', afterMs: 100 }))], 8000);
    expect(r.closedByServer).toBe(true);
    expect(r.closedAfterMs).toBeLessThan(4000);
  });

  test('a connection that never sends anything is closed', async () => {
    const r = await socketExchange(s.port, [], 8000);
    expect(r.closedByServer).toBe(true);
    expect(r.closedAfterMs).toBeLessThan(4000);
  });

  test('a normal request still works', async () => {
    expect((await fetch(`${s.url}healthz`)).status).toBe(200);
  });
});

describe('token, content encoding, rate limit', () => {
  const TOKEN = 'a-long-enough-test-token-0123456789';

  test('non-loopback binding without a token is refused before listening; a short token too', async () => {
    await expect(startServer({ root, host: '0.0.0.0', port: 0, warmUp: false })).rejects.toMatchObject({ code: 'E_OPTION', message: /needs a token/ });
    await expect(startServer({ root, port: 0, token: 'short', warmUp: false })).rejects.toMatchObject({ code: 'E_OPTION', message: /at least 16/ });
  });

  test('with a token: /v1, /openapi.json and /docs need "Authorization: Bearer"; the app and /healthz do not', async () => {
    const s = await start({ token: TOKEN });
    try {
      for (const path of ['v1/sessions', 'openapi.json', 'docs', 'docs/', 'docs/json', 'docs/static/index.html', 'docs/static/swagger-ui.css']) {
        const none = await fetch(`${s.url}${path}`);
        expect(none.status).toBe(401);
        expect(none.headers.get('www-authenticate')).toMatch(path.startsWith('docs') ? /^Basic realm="ferkit docs"/ : /^Bearer/);
        expect((await none.json()).code).toBe('E_UNAUTHORIZED');
        expect((await fetch(`${s.url}${path}`, { headers: { authorization: `Bearer ${TOKEN}x` } })).status).toBe(401);
        expect((await fetch(`${s.url}${path}`, { headers: { authorization: TOKEN } })).status).toBe(401);
      }
      expect((await fetch(`${s.url}v1/sessions`, { headers: { authorization: `Bearer ${TOKEN}` } })).status).toBe(200);
      expect((await fetch(`${s.url}openapi.json`, { headers: { authorization: `bearer ${TOKEN}` } })).status).toBe(200);
      expect((await fetch(s.url)).status).toBe(200);
      expect((await fetch(`${s.url}healthz`)).status).toBe(200);
    } finally {
      await s.close();
    }
  });

  test('with a token, a browser opens /docs through its login prompt (Basic, the token as the password); Basic opens nothing else', async () => {
    const s = await start({ token: TOKEN });
    const basic = (user: string, password: string): Record<string, string> => ({ authorization: `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}` });
    try {
      for (const path of ['docs/', 'docs/json', 'docs/static/index.html']) {
        expect((await fetch(`${s.url}${path}`, { headers: basic('teacher', TOKEN) })).status).toBe(200);
        expect((await fetch(`${s.url}${path}`, { headers: { authorization: `Bearer ${TOKEN}` } })).status).toBe(200);
        expect((await fetch(`${s.url}${path}`, { headers: basic('teacher', `${TOKEN}x`) })).status).toBe(401);
        expect((await fetch(`${s.url}${path}`, { headers: basic(TOKEN, '') })).status).toBe(401);
      }
      const html = await (await fetch(`${s.url}docs/static/index.html`, { headers: basic('', TOKEN) })).text();
      expect(html).toMatch(/swagger/i);
      // The API and the OpenAPI document take the bearer token only.
      for (const path of ['v1/sessions', 'openapi.json']) {
        const res = await fetch(`${s.url}${path}`, { headers: basic('teacher', TOKEN) });
        expect([res.status, res.headers.get('www-authenticate')]).toEqual([401, 'Bearer realm="ferkit"']);
      }
      expect((await fetch(`${s.url}docs/json`, { method: 'POST', headers: basic('teacher', TOKEN) })).status).toBe(401);
    } finally {
      await s.close();
    }
  });

  test('bearerMatches compares exactly', () => {
    expect(bearerMatches(`Bearer ${TOKEN}`, TOKEN)).toBe(true);
    expect(bearerMatches(`Bearer ${TOKEN.slice(0, -1)}`, TOKEN)).toBe(false);
    expect(bearerMatches(undefined, TOKEN)).toBe(false);
    expect(bearerMatches('Bearer ', TOKEN)).toBe(false);
    expect(bearerMatches(`Basic ${TOKEN}`, TOKEN)).toBe(false);
  });

  test('a compressed request body (Content-Encoding: gzip, a zip bomb or not) is refused with 415 unread', async () => {
    const s = await start();
    try {
      const res = await rawRequest(s.port, '/v1/analyze', { method: 'POST', headers: { host: '127.0.0.1', 'content-type': 'image/jpeg', 'content-encoding': 'gzip' }, body: Buffer.alloc(100) });
      expect(res.status).toBe(415);
      expect(JSON.parse(res.body).code).toBe('E_MEDIA_TYPE');
    } finally {
      await s.close();
    }
  });

  test('CORS is off: no Access-Control-* header for a cross-origin request or a preflight', async () => {
    const s = await start();
    try {
      const get = await fetch(`${s.url}v1/sessions`, { headers: { origin: 'https://evil.example' } });
      expect(get.status).toBe(200);
      const pre = await fetch(`${s.url}v1/sessions`, { method: 'OPTIONS', headers: { origin: 'https://evil.example', 'access-control-request-method': 'POST' } });
      expect(pre.status).toBeGreaterThanOrEqual(400);
      for (const res of [get, pre]) {
        expect([...res.headers.keys()].filter((k) => k.startsWith('access-control-'))).toEqual([]);
      }
    } finally {
      await s.close();
    }
  });

  test('rate limit per client: 429 E_RATE_LIMIT with Retry-After past the limit', async () => {
    const s = await start({ rateLimitPerMinute: 5 });
    try {
      const statuses: number[] = [];
      let last: Response | undefined;
      for (let i = 0; i < 7; i++) {
        last = await fetch(`${s.url}healthz`);
        statuses.push(last.status);
      }
      expect(statuses).toEqual([200, 200, 200, 200, 200, 429, 429]);
      expect(last!.headers.get('retry-after')).toMatch(/^\d+$/);
      expect((await last!.json())).toMatchObject({ code: 'E_RATE_LIMIT', detail: expect.stringMatching(/limit 5 per minute/) });
    } finally {
      await s.close();
    }
  });
});
