import { S3RequestPresigner } from '@aws-sdk/s3-request-presigner';
import { S3Client } from '@aws-sdk/client-s3';
import { CREDENTIALS_REUSE_MS, SIGNING_WINDOW_SECONDS, createUrlSigner } from '../src/storage/url-signer';

const credentials = { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY', sessionToken: 'session token/+=' };
const now = Date.UTC(2026, 11, 1, 10, 7, 30);

/** The AWS SDK's own presigner for the same request, signed at the start of the window. */
async function sdkSignature(opts: { host: string; path: string }) {
  const s3 = new S3Client({ region: 'eu-west-3', credentials });
  try {
    const presigner = new S3RequestPresigner({ ...s3.config });
    const windowStart = Math.floor(now / 1000 / SIGNING_WINDOW_SECONDS) * SIGNING_WINDOW_SECONDS;
    const [hostname, port] = opts.host.split(':');
    const signed = await presigner.presign(
      {
        protocol: 'http:',
        hostname: hostname!,
        port: port ? Number(port) : undefined,
        method: 'GET',
        path: opts.path,
        query: {},
        headers: { host: opts.host },
      },
      { expiresIn: 3600 + SIGNING_WINDOW_SECONDS, signingDate: new Date(windowStart * 1000) },
    );
    return signed.query?.['X-Amz-Signature'];
  } finally {
    s3.destroy();
  }
}

describe('presigned GET URLs', () => {
  it.each([
    [true, 's3.local:9000', '/my-bucket/media/a%20b/c'],
    [false, 'my-bucket.s3.local:9000', '/media/a%20b/c'],
  ])('match the AWS SDK presigner byte for byte (path style %s)', async (forcePathStyle, host, path) => {
    const signer = createUrlSigner({
      endpoint: 'http://s3.local:9000',
      region: 'eu-west-3',
      bucket: 'my-bucket',
      forcePathStyle,
      ttlSeconds: 3600,
      credentials: async () => credentials,
      now: () => now,
    });
    const { url, reusableUntil } = await signer.sign('media/a b/c');
    const u = new URL(url);
    expect(u.host).toBe(host);
    expect(u.pathname).toBe(path);
    expect(u.searchParams.get('X-Amz-Expires')).toBe(String(3600 + SIGNING_WINDOW_SECONDS));
    expect(u.searchParams.get('X-Amz-Security-Token')).toBe(credentials.sessionToken);
    expect(u.searchParams.get('X-Amz-Signature')).toBe(await sdkSignature({ host, path }));
    // Handed out only while it still has at least the TTL to live.
    const validUntil =
      Date.parse(`${u.searchParams.get('X-Amz-Date')!.replace(/(\d{4})(\d\d)(\d\d)T(\d\d)(\d\d)(\d\d)Z/, '$1-$2-$3T$4:$5:$6Z')}`) +
      (3600 + SIGNING_WINDOW_SECONDS) * 1000;
    expect(validUntil - reusableUntil.getTime()).toBeGreaterThanOrEqual(3600 * 1000);
    expect(reusableUntil.getTime()).toBeGreaterThan(now);
  });

  it('is the same URL within a window (client caches hit) and a new one after', async () => {
    let t = now;
    const signer = createUrlSigner({
      region: 'us-east-1',
      bucket: 'b',
      forcePathStyle: false,
      ttlSeconds: 3600,
      credentials: async () => credentials,
      now: () => t,
    });
    const a = await signer.sign('k');
    t += 1000;
    expect((await signer.sign('k')).url).toBe(a.url);
    t = a.reusableUntil.getTime();
    expect((await signer.sign('k')).url).not.toBe(a.url);
    expect(a.url.startsWith('https://b.s3.us-east-1.amazonaws.com/k?')).toBe(true);
  });

  it('signs anew with renewed credentials within the same window (asked for once a second)', async () => {
    let creds = credentials;
    let t = now;
    const signer = createUrlSigner({ region: 'us-east-1', bucket: 'b', forcePathStyle: false, ttlSeconds: 3600, credentials: async () => creds, now: () => t });
    const a = await signer.sign('k');
    expect((await signer.sign('k')).url).toBe(a.url);
    expect((await signer.sign('other')).url).not.toBe(a.url);
    creds = { ...credentials, accessKeyId: 'AKIDRENEWED', sessionToken: 'renewed' };
    t += CREDENTIALS_REUSE_MS; // asked for again at most this often
    const b = new URL((await signer.sign('k')).url);
    expect(b.searchParams.get('X-Amz-Credential')?.startsWith('AKIDRENEWED/')).toBe(true);
    expect(b.searchParams.get('X-Amz-Security-Token')).toBe('renewed');
    expect(b.searchParams.get('X-Amz-Signature')).not.toBe(new URL(a.url).searchParams.get('X-Amz-Signature'));
  });

  it('uses the public base when one is configured', async () => {
    const signer = createUrlSigner({
      region: 'us-east-1',
      bucket: 'b',
      forcePathStyle: true,
      publicUrl: 'https://cdn.example.com/media/',
      ttlSeconds: 3600,
      credentials: async () => credentials,
    });
    expect((await signer.sign('media/u/1')).url).toBe('https://cdn.example.com/media/media/u/1');
  });
});
