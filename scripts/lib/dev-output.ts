import * as readline from 'node:readline';
import type { Readable } from 'node:stream';

/**
 * `make dev` output: every line is prefixed with the name of the process that wrote it (coloured
 * on a terminal). The processes log pino JSON (their stdout is a pipe); on a terminal those lines
 * are pretty-printed here, unless LOG_FORMAT=json.
 */

const COLOURS: Record<string, string> = {
  dev: '1',
  gateway: '32',
  identity: '36',
  'social-graph': '35',
  content: '33',
  notification: '34',
};
const FALLBACK = ['96', '95', '93', '94', '92'];

export class Output {
  readonly tty: boolean;
  private readonly width: number;
  private readonly pretty?: (line: string) => string;

  constructor(names: string[], opts: { tty: boolean; prettyJson: boolean }) {
    this.tty = opts.tty;
    this.width = Math.max(...names.map((n) => n.length), 3);
    if (opts.prettyJson) {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const { prettyFactory } = require('pino-pretty') as { prettyFactory(o: object): (line: string) => string };
      this.pretty = prettyFactory({ colorize: opts.tty, translateTime: 'HH:MM:ss.l', ignore: 'pid,hostname,service,name', singleLine: true });
    }
  }

  colour(code: string, text: string): string {
    return this.tty ? `\x1b[${code}m${text}\x1b[0m` : text;
  }

  prefix(name: string): string {
    let code = COLOURS[name];
    if (!code) code = FALLBACK[[...name].reduce((a, c) => a + c.charCodeAt(0), 0) % FALLBACK.length] ?? '37';
    return `${this.colour(code, name.padEnd(this.width))} ${this.tty ? '\x1b[2m│\x1b[0m' : '|'} `;
  }

  /** Writes one line (or a pretty-printed JSON log record) under `name`. */
  line(name: string, text: string): void {
    let body = text;
    if (this.pretty && text.startsWith('{')) {
      try {
        JSON.parse(text);
        body = this.pretty(text).replace(/\n$/, '');
      } catch {
        // not a log record: printed as it is
      }
    }
    const p = this.prefix(name);
    process.stdout.write(
      body
        .split('\n')
        .map((l) => p + l)
        .join('\n') + '\n',
    );
  }

  info(text: string): void {
    this.line('dev', text);
  }

  error(text: string): void {
    this.line('dev', this.colour('31', text));
  }

  /** Prefixes every line a child writes to `stream`. */
  pipe(name: string, stream: Readable): void {
    readline.createInterface({ input: stream, crlfDelay: Infinity }).on('line', (l) => this.line(name, l));
  }
}
