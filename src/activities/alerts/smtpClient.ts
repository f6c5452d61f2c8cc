/**
 * A small SMTP client for alert e-mails (RFC 5321): EHLO, STARTTLS when the server
 * offers it (or `smtps://` for TLS from the first byte), AUTH PLAIN when the URL has
 * credentials, MAIL FROM, RCPT TO, DATA with dot-stuffing, QUIT.
 *
 * SMTP_URL: `smtp://[user:password@]host[:port]` (port 587 by default; STARTTLS used
 * when offered, required when credentials are sent, unless `?starttls=off`, which is
 * for a local relay only) or `smtps://…` (port 465).
 */
import net from 'node:net';
import tls from 'node:tls';

export interface SmtpTarget {
  host: string;
  port: number;
  secure: boolean;
  starttls: 'auto' | 'off';
  user?: string;
  password?: string;
  /** trust this CA (PEM) besides the system's (a test server's self-signed certificate) */
  ca?: string;
}

export function parseSmtpUrl(raw: string): SmtpTarget {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new Error(`SMTP_URL is not a URL (smtp://user:password@host:587 or smtps://…:465): "${raw}"`);
  }
  if (url.protocol !== 'smtp:' && url.protocol !== 'smtps:')
    throw new Error(`SMTP_URL must start with smtp:// or smtps://, got "${url.protocol}"`);
  const secure = url.protocol === 'smtps:';
  const starttls = url.searchParams.get('starttls') === 'off' ? 'off' : 'auto';
  return {
    host: url.hostname.replace(/^\[|\]$/g, ''),
    port: url.port ? Number(url.port) : secure ? 465 : 587,
    secure,
    starttls,
    ...(url.username ? { user: decodeURIComponent(url.username) } : {}),
    ...(url.password ? { password: decodeURIComponent(url.password) } : {}),
  };
}

export interface MailMessage {
  from: string;
  to: string;
  subject: string;
  text: string;
  /** Message-ID (the same for every attempt of one delivery) */
  messageId: string;
  date?: Date;
}

const ADDRESS = /^[^\s<>@",;:\\]+@[^\s<>@",;:\\]+$/;

/** An address we put in an envelope or a header: no spaces, brackets, CR or LF. */
export function isMailAddress(s: string): boolean {
  return s.length <= 254 && ADDRESS.test(s);
}

export class SmtpError extends Error {
  constructor(
    message: string,
    readonly code: number,
  ) {
    super(message);
    this.name = 'SmtpError';
  }
}

/** Reads SMTP replies (possibly multi-line: `250-…` then `250 …`) from a socket. */
class ReplyReader {
  private buffer = '';
  private lines: string[] = [];
  private waiting: ((r: { code: number; lines: string[] } | Error) => void) | null = null;
  private failure: Error | null = null;

  constructor(private socket: net.Socket) {
    this.attach(socket);
  }

  attach(socket: net.Socket) {
    this.socket = socket;
    socket.setEncoding('utf8');
    socket.on('data', (d: string) => this.onData(d));
    socket.on('error', (err) => this.fail(err));
    socket.on('close', () => this.fail(new Error('the SMTP server closed the connection')));
  }

  private fail(err: Error) {
    this.failure ??= err;
    const w = this.waiting;
    this.waiting = null;
    w?.(err);
  }

  private onData(d: string) {
    this.buffer += d;
    if (this.buffer.length > 64 * 1024) return this.fail(new Error('SMTP reply too long'));
    let i: number;
    while ((i = this.buffer.indexOf('\n')) >= 0) {
      const line = this.buffer.slice(0, i).replace(/\r$/, '');
      this.buffer = this.buffer.slice(i + 1);
      this.lines.push(line);
      if (/^\d{3}( |$)/.test(line)) {
        const reply = { code: Number(line.slice(0, 3)), lines: this.lines.map((l) => l.slice(4)) };
        this.lines = [];
        const w = this.waiting;
        this.waiting = null;
        w?.(reply);
      }
    }
  }

  next(timeoutMs: number): Promise<{ code: number; lines: string[] }> {
    if (this.failure) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting = null;
        reject(new Error(`no SMTP reply within ${timeoutMs / 1000} s`));
      }, timeoutMs);
      this.waiting = (r) => {
        clearTimeout(timer);
        if (r instanceof Error) reject(r);
        else resolve(r);
      };
    });
  }
}

/** Escapes a body for DATA: CRLF line ends, a leading dot doubled. */
export function dotStuff(text: string): string {
  return text
    .replace(/\r?\n/g, '\r\n')
    .split('\r\n')
    .map((l) => (l.startsWith('.') ? `.${l}` : l))
    .join('\r\n');
}

function headerValue(s: string): string {
  return s.replace(/[\r\n]+/g, ' ');
}

/** Sends one message; resolves when the server accepted it (250 after DATA). */
export async function sendMail(target: SmtpTarget, msg: MailMessage, timeoutMs = 20_000): Promise<void> {
  if (!isMailAddress(msg.from)) throw new Error(`not a mail address: "${msg.from}" (SMTP_FROM)`);
  if (!isMailAddress(msg.to)) throw new Error(`not a mail address: "${msg.to}"`);
  let socket: net.Socket = await new Promise((resolve, reject) => {
    const s = target.secure
      ? tls.connect({ host: target.host, port: target.port, servername: target.host, ca: target.ca })
      : net.connect({ host: target.host, port: target.port });
    s.once(target.secure ? 'secureConnect' : 'connect', () => resolve(s));
    s.once('error', reject);
    s.setTimeout(timeoutMs, () => s.destroy(new Error(`SMTP connection to ${target.host} timed out`)));
  });
  const reader = new ReplyReader(socket);
  const expect = async (what: string, ok: (code: number) => boolean) => {
    const r = await reader.next(timeoutMs);
    if (!ok(r.code))
      throw new SmtpError(`SMTP ${what} refused: ${r.code} ${r.lines.join(' ').slice(0, 300)}`, r.code);
    return r;
  };
  const command = async (line: string, what: string, ok: (code: number) => boolean = (c) => c === 250) => {
    socket.write(`${line}\r\n`);
    return expect(what, ok);
  };
  try {
    await expect('greeting', (c) => c === 220);
    let ehlo = await command('EHLO satmachine', 'EHLO');
    const offersTls = ehlo.lines.some((l) => /^STARTTLS\b/i.test(l));
    const sendsCredentials = target.user !== undefined;
    if (!target.secure && target.starttls === 'auto' && (offersTls || sendsCredentials)) {
      if (!offersTls)
        throw new Error(
          `the SMTP server ${target.host} does not offer STARTTLS: refusing to send the password in clear (use smtps:// or ?starttls=off for a local relay)`,
        );
      await command('STARTTLS', 'STARTTLS', (c) => c === 220);
      socket.removeAllListeners('data');
      socket.removeAllListeners('close');
      socket.removeAllListeners('error');
      socket = await new Promise<net.Socket>((resolve, reject) => {
        const s = tls.connect({ socket, servername: target.host, ca: target.ca });
        s.once('secureConnect', () => resolve(s));
        s.once('error', reject);
      });
      reader.attach(socket);
      ehlo = await command('EHLO satmachine', 'EHLO after STARTTLS');
    }
    if (sendsCredentials) {
      const token = Buffer.from(`\u0000${target.user}\u0000${target.password ?? ''}`).toString('base64');
      await command(`AUTH PLAIN ${token}`, 'AUTH PLAIN', (c) => c === 235);
    }
    await command(`MAIL FROM:<${msg.from}>`, 'MAIL FROM');
    await command(`RCPT TO:<${msg.to}>`, 'RCPT TO', (c) => c === 250 || c === 251);
    await command('DATA', 'DATA', (c) => c === 354);
    const head = [
      `From: ${msg.from}`,
      `To: ${msg.to}`,
      `Subject: ${headerValue(msg.subject)}`,
      `Date: ${(msg.date ?? new Date()).toUTCString()}`,
      `Message-ID: <${headerValue(msg.messageId)}>`,
      'MIME-Version: 1.0',
      'Content-Type: text/plain; charset=utf-8',
      'Content-Transfer-Encoding: 8bit',
    ].join('\r\n');
    socket.write(`${head}\r\n\r\n${dotStuff(msg.text)}\r\n.\r\n`);
    await expect('message', (c) => c === 250);
    socket.write('QUIT\r\n');
  } finally {
    socket.end();
    socket.destroy();
  }
}
