#!/usr/bin/env node
'use strict';
/**
 * Renders nginx/nginx.conf + nginx/templates/default.conf.template into a config that an
 * unprivileged nginx can run from a directory of its own (pid, temp paths and logs inside it).
 * Tests and scripts/validate-deploy.sh use it; the container renders the same template with the
 * official image's envsubst step.
 *
 *   node nginx/render.js <gateway host:port> <listen port> <out dir> [--rate 20r/s] [--burst 40]
 *                        [--max-body 210m] [--retry-after 1] [--s3 host:port] [--bucket name]
 *   nginx -p <out dir> -e <out dir>/error.log -c <out dir>/nginx.conf -g 'daemon off;'
 */
const fs = require('node:fs');
const path = require('node:path');

const HERE = __dirname;

/** The template's variables and their defaults (also in .env.example and docker-compose.yml). */
const DEFAULTS = Object.freeze({
  NGINX_LISTEN: '80',
  NGINX_GATEWAY_ADDR: 'gateway:8080',
  NGINX_RATE_LIMIT: '20r/s',
  NGINX_RATE_BURST: '40',
  NGINX_AUTH_RATE_LIMIT: '30r/m',
  NGINX_AUTH_RATE_BURST: '10',
  NGINX_RETRY_AFTER: '1',
  NGINX_MAX_BODY_SIZE: '210m',
  // compose and k8s name the store (object-store:3900); an address keeps `nginx -t` here offline.
  NGINX_S3_ADDR: '127.0.0.1:3900',
  NGINX_S3_BUCKET: 'shutter-media',
  NGINX_MEDIA_RATE_LIMIT: '100r/s',
  NGINX_MEDIA_RATE_BURST: '200',
});

/** Replaces `${NGINX_*}` like the image's envsubst step; a variable without a value is an error. */
function substitute(text, vars) {
  return text.replace(/\$\{(NGINX_[A-Z0-9_]+)\}/g, (_, name) => {
    const value = vars[name];
    if (value === undefined || value === '') throw new Error(`nginx template: no value for ${name}`);
    return String(value);
  });
}

/** Rewrites one directive of the main config; it must be there exactly once. */
function rewrite(text, pattern, replacement) {
  const matches = text.match(new RegExp(pattern.source, `${pattern.flags.replace('g', '')}g`));
  if (!matches || matches.length !== 1) throw new Error(`nginx.conf: expected one line matching ${pattern}`);
  return text.replace(pattern, replacement);
}

/**
 * Writes `<outDir>/nginx.conf` and `<outDir>/conf.d/default.conf`.
 * @param {{gateway: string, listen: string|number, outDir: string, rateLimit?: string, burst?: number|string,
 *          authRateLimit?: string, authBurst?: number|string,
 *          maxBodySize?: string, retryAfter?: number|string, workerProcesses?: number, streamsPerAddr?: number,
 *          s3?: string, bucket?: string}} opts  `s3`: the object store's host:port, `bucket`: its path
 * @returns {{confPath: string, outDir: string, args: string[]}} `args`: nginx's command line (without `nginx`).
 */
function render(opts) {
  const outDir = path.resolve(opts.outDir);
  const confD = path.join(outDir, 'conf.d');
  fs.mkdirSync(confD, { recursive: true });
  // Workers drop to `nobody` when the master is root: they must reach the temp dirs.
  fs.chmodSync(outDir, 0o755);
  const vars = {
    ...DEFAULTS,
    NGINX_GATEWAY_ADDR: opts.gateway,
    NGINX_LISTEN: String(opts.listen).includes(':') ? String(opts.listen) : `127.0.0.1:${opts.listen}`,
    ...(opts.rateLimit !== undefined && { NGINX_RATE_LIMIT: opts.rateLimit }),
    ...(opts.burst !== undefined && { NGINX_RATE_BURST: String(opts.burst) }),
    ...(opts.authRateLimit !== undefined && { NGINX_AUTH_RATE_LIMIT: opts.authRateLimit }),
    ...(opts.authBurst !== undefined && { NGINX_AUTH_RATE_BURST: String(opts.authBurst) }),
    ...(opts.maxBodySize !== undefined && { NGINX_MAX_BODY_SIZE: opts.maxBodySize }),
    ...(opts.retryAfter !== undefined && { NGINX_RETRY_AFTER: String(opts.retryAfter) }),
    ...(opts.s3 !== undefined && { NGINX_S3_ADDR: opts.s3 }),
    ...(opts.bucket !== undefined && { NGINX_S3_BUCKET: opts.bucket }),
  };
  let server = substitute(fs.readFileSync(path.join(HERE, 'templates/default.conf.template'), 'utf8'), vars);
  if (opts.streamsPerAddr !== undefined) server = rewrite(server, /limit_conn streams_per_addr \d+;/, `limit_conn streams_per_addr ${opts.streamsPerAddr};`);
  fs.writeFileSync(path.join(confD, 'default.conf'), server);

  const temp = ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map((name) => {
    fs.mkdirSync(path.join(outDir, `${name}_temp`), { recursive: true });
    return `    ${name}_temp_path ${path.join(outDir, `${name}_temp`)};`;
  });
  let main = fs.readFileSync(path.join(HERE, 'nginx.conf'), 'utf8');
  main = rewrite(main, /^user .*;$/m, '# user: unprivileged run');
  main = rewrite(main, /^pid .*;$/m, `pid ${path.join(outDir, 'nginx.pid')};`);
  main = rewrite(main, /^error_log .*;$/m, `error_log ${path.join(outDir, 'error.log')} warn;`);
  main = rewrite(main, /^(\s*)access_log \/dev\/stdout (\w+);$/m, `$1access_log ${path.join(outDir, 'access.log')} $2;`);
  main = rewrite(main, /^(\s*)include \/etc\/nginx\/conf\.d\/\*\.conf;$/m, `$1include ${path.join(confD, '*.conf')};`);
  main = rewrite(main, /^http \{$/m, `http {\n${temp.join('\n')}`);
  if (opts.workerProcesses) main = rewrite(main, /^worker_processes .*;$/m, `worker_processes ${opts.workerProcesses};`);
  const confPath = path.join(outDir, 'nginx.conf');
  fs.writeFileSync(confPath, main);
  return { confPath, outDir, args: ['-p', outDir, '-e', path.join(outDir, 'error.log'), '-c', confPath] };
}

module.exports = { render, substitute, DEFAULTS };

if (require.main === module) {
  const argv = process.argv.slice(2);
  const positional = [];
  const flags = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a.startsWith('--')) flags[a.slice(2)] = argv[++i];
    else positional.push(a);
  }
  const [gateway, listen, outDir] = positional;
  if (!gateway || !listen || !outDir) {
    console.error('usage: node nginx/render.js <gateway host:port> <listen port> <out dir> [--rate 20r/s] [--burst 40] [--max-body 210m] [--retry-after 1]');
    process.exit(2);
  }
  const { args } = render({
    gateway,
    listen,
    outDir,
    rateLimit: flags.rate,
    burst: flags.burst,
    maxBodySize: flags['max-body'],
    retryAfter: flags['retry-after'],
    s3: flags.s3,
    bucket: flags.bucket,
  });
  console.log(`nginx ${args.join(' ')} -g 'daemon off;'`);
}
