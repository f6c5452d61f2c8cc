import { readFileSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { createSecureContext, TLSSocket } from 'node:tls';
import type { AddressInfo } from 'node:net';
import type { WorkflowHandle } from '@temporalio/client';
import { parseSmtpUrl, sendMail } from '../../src/activities/alerts/smtpClient';
import { alertPhaseQuery, alertWorkflowId, evaluateNowUpdate } from '../../src/workflows/alerts/definitions';
import { startAlertEvaluator, stopAlertEvaluator } from '../helpers/alertEvaluator';
import { startApi, type TestApi } from '../helpers/api';
import { createMachine, createOperator } from '../helpers/fixtures';
import { eventually, freshDatabase, temporalClient, testWorker } from '../helpers/stack';

/** a self-signed certificate for 127.0.0.1 (test only; its key is no secret) */
const TEST_TLS = {
  key: readFileSync(join(__dirname, '..', 'fixtures', 'smtp-test-key.pem'), 'utf8'),
  cert: readFileSync(join(__dirname, '..', 'fixtures', 'smtp-test-cert.pem'), 'utf8'),
};

interface Mail {
  auth: string | null;
  from: string;
  to: string[];
  data: string;
}

/**
 * A tiny SMTP server (RFC 5321 subset): greets, answers EHLO with its extensions,
 * takes AUTH PLAIN, MAIL, RCPT, DATA (until a lone dot, un-stuffing dots), QUIT.
 */
async function startSmtpServer(opts: { offerStartTls: boolean; password?: string }) {
  const mails: (Mail & { tls: boolean })[] = [];
  const server: Server = createServer((plain: Socket) => {
    let socket: Socket = plain;
    let secure = false;
    let buffer = '';
    let inData = false;
    let mail: Mail = { auth: null, from: '', to: [], data: '' };
    const reply = (line: string) => socket.write(`${line}\r\n`);
    const onLine = (line: string) => {
      if (inData) {
        if (line === '.') {
          inData = false;
          mails.push({ ...mail, tls: secure });
          mail = { auth: mail.auth, from: '', to: [], data: '' };
          reply('250 2.0.0 queued');
        } else mail.data += `${line.startsWith('..') ? line.slice(1) : line}\n`;
        return;
      }
      const [verb, ...rest] = line.split(' ');
      switch (verb!.toUpperCase()) {
        case 'EHLO':
          reply('250-test.smtp');
          if (opts.offerStartTls && !secure) reply('250-STARTTLS');
          reply('250 AUTH PLAIN');
          break;
        case 'STARTTLS': {
          reply('220 2.0.0 ready to start TLS');
          plain.removeAllListeners('data');
          const tlsSocket = new TLSSocket(plain, {
            isServer: true,
            secureContext: createSecureContext(TEST_TLS),
          });
          tlsSocket.setEncoding('utf8');
          tlsSocket.on('data', onData);
          tlsSocket.on('error', () => undefined);
          socket = tlsSocket;
          secure = true;
          break;
        }
        case 'AUTH': {
          const [, user, password] = Buffer.from(rest[1] ?? '', 'base64')
            .toString('utf8')
            .split('\u0000');
          if (password !== opts.password) reply('535 5.7.8 authentication failed');
          else {
            mail.auth = user!;
            reply('235 2.7.0 authenticated');
          }
          break;
        }
        case 'MAIL':
          mail.from = /<(.*)>/.exec(line)![1]!;
          reply('250 ok');
          break;
        case 'RCPT':
          mail.to.push(/<(.*)>/.exec(line)![1]!);
          reply('250 ok');
          break;
        case 'DATA':
          inData = true;
          reply('354 end with <CRLF>.<CRLF>');
          break;
        case 'QUIT':
          reply('221 bye');
          socket.end();
          break;
        default:
          reply('502 not implemented');
      }
    };
    const onData = (chunk: string) => {
      buffer += chunk;
      let i: number;
      while ((i = buffer.indexOf('\r\n')) >= 0) {
        const line = buffer.slice(0, i);
        buffer = buffer.slice(i + 2);
        onLine(line);
      }
    };
    reply('220 test.smtp ESMTP ready');
    plain.setEncoding('utf8');
    plain.on('data', onData);
    plain.on('error', () => undefined);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return {
    port: (server.address() as AddressInfo).port,
    mails,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

describe('alert e-mail over SMTP (our small client against a tiny server)', () => {
  it('authenticates with AUTH PLAIN, sends the envelope and a dot-stuffed body', async () => {
    const smtp = await startSmtpServer({ offerStartTls: false, password: 's3cret:pw' });
    try {
      const target = parseSmtpUrl(
        `smtp://alerts%40op:${encodeURIComponent('s3cret:pw')}@127.0.0.1:${smtp.port}?starttls=off`,
      );
      await sendMail(target, {
        from: 'alerts@sat.test',
        to: 'ops@example.com',
        subject: 'line one\r\nBcc: injected@example.com',
        text: 'first\n.dot line\n.\nlast',
        messageId: 'a1.open@satmachine',
      });
      expect(smtp.mails).toHaveLength(1);
      const m = smtp.mails[0]!;
      expect(m.auth).toBe('alerts@op');
      expect(m.from).toBe('alerts@sat.test');
      expect(m.to).toEqual(['ops@example.com']);
      expect(m.data).toContain('Subject: line one Bcc: injected@example.com\n'); // no header injection
      expect(m.data).not.toMatch(/^Bcc:/m);
      expect(m.data).toContain('Message-ID: <a1.open@satmachine>');
      expect(m.data.split('\n\n').slice(1).join('\n\n')).toBe('first\n.dot line\n.\nlast\n');
    } finally {
      await smtp.close();
    }
  });

  it('upgrades with STARTTLS when offered, checks the certificate, then authenticates inside TLS', async () => {
    const smtp = await startSmtpServer({ offerStartTls: true, password: 'pw' });
    try {
      const mail = {
        from: 'a@sat.test',
        to: 'b@example.com',
        subject: 's',
        text: 'over tls',
        messageId: 'x@y',
      };
      // the server's certificate is not one the system trusts: refused
      await expect(sendMail(parseSmtpUrl(`smtp://u:pw@127.0.0.1:${smtp.port}`), mail)).rejects.toThrow(
        /self[- ]signed/i,
      );
      expect(smtp.mails).toEqual([]);
      await sendMail({ ...parseSmtpUrl(`smtp://u:pw@127.0.0.1:${smtp.port}`), ca: TEST_TLS.cert }, mail);
      expect(smtp.mails).toHaveLength(1);
      expect(smtp.mails[0]).toMatchObject({ tls: true, auth: 'u', to: ['b@example.com'] });
      expect(smtp.mails[0]!.data).toContain('over tls');
    } finally {
      await smtp.close();
    }
  });

  it('refuses to send a password in clear when the server offers no STARTTLS; a wrong password is an error', async () => {
    const smtp = await startSmtpServer({ offerStartTls: false, password: 'right' });
    try {
      const mail = { from: 'a@sat.test', to: 'b@example.com', subject: 's', text: 't', messageId: 'x@y' };
      await expect(sendMail(parseSmtpUrl(`smtp://u:right@127.0.0.1:${smtp.port}`), mail)).rejects.toThrow(
        'does not offer STARTTLS: refusing to send the password in clear',
      );
      await expect(
        sendMail(parseSmtpUrl(`smtp://u:wrong@127.0.0.1:${smtp.port}?starttls=off`), mail),
      ).rejects.toThrow('SMTP AUTH PLAIN refused: 535');
      await expect(
        sendMail(parseSmtpUrl(`smtp://127.0.0.1:${smtp.port}?starttls=off`), {
          ...mail,
          to: 'b@example.com>\r\nRCPT TO:<c@d',
        }),
      ).rejects.toThrow('not a mail address');
      expect(smtp.mails).toEqual([]);
    } finally {
      await smtp.close();
    }
    expect(() => parseSmtpUrl('http://x')).toThrow('SMTP_URL must start with smtp:// or smtps://');
  });

  describe('through the worker', () => {
    let db: Awaited<ReturnType<typeof freshDatabase>>;
    let temporal: Awaited<ReturnType<typeof temporalClient>>;
    let api: TestApi;
    let worker: { stop: () => Promise<void> };
    let smtp: Awaited<ReturnType<typeof startSmtpServer>>;
    let evaluator: WorkflowHandle;

    beforeAll(async () => {
      db = await freshDatabase();
      temporal = await temporalClient();
      smtp = await startSmtpServer({ offerStartTls: false });
      const w = await testWorker({
        pool: db.pool,
        alerts: {
          relays: [],
          webhookAllowLoopback: false,
          smtpUrl: `smtp://127.0.0.1:${smtp.port}?starttls=off`,
          smtpFrom: 'alerts@sat.test',
        },
      });
      worker = w.start();
      api = await startApi({ pool: db.pool, temporal: temporal.client });
      evaluator = await startAlertEvaluator(temporal.client, w.taskQueue);
      await evaluator.executeUpdate(evaluateNowUpdate);
    });

    afterAll(async () => {
      await stopAlertEvaluator(evaluator);
      await worker?.stop();
      await api?.close();
      await smtp?.close();
      await temporal?.close();
      await db?.close();
    });

    it('an open alert is e-mailed to the operator once, with the alert as JSON', async () => {
      const op = await createOperator(db.pool, 'mail operator');
      const s = await api.call('PATCH', '/api/v1/alerts/settings', op.apiKey, {
        email_to: 'oncall@example.com',
        cassette_min_count: 10,
      });
      expect(s.status).toBe(200);
      expect(
        (await api.call('PATCH', '/api/v1/alerts/settings', op.apiKey, { email_to: 'x@y\r\nBcc: z@w' }))
          .status,
      ).toBe(422);
      const machine = await createMachine(db.pool, op, { name: 'low cash' });
      await db.pool.query(
        `INSERT INTO satmachine.cassette_configs (machine_id, position, denomination, count) VALUES ($1, 1, 20, 3)`,
        [machine.row.id],
      );
      const { opened } = await evaluator.executeUpdate(evaluateNowUpdate);
      expect(opened).toHaveLength(1);
      const handle = temporal.client.workflow.getHandle(alertWorkflowId(opened[0]!));
      await eventually(
        async () => (await handle.query(alertPhaseQuery)) === 'open',
        60_000,
        'open delivered',
      );
      expect(smtp.mails).toHaveLength(1);
      expect(smtp.mails[0]!.to).toEqual(['oncall@example.com']);
      expect(smtp.mails[0]!.data).toContain(
        'Subject: [satmachine] OPEN warning: Cassette 1 of low cash holds 3 bills (below 10)',
      );
      expect(smtp.mails[0]!.data).toContain(`"rule":"cassette_low"`);
      const detail = await api.call('GET', `/api/v1/alerts/${opened[0]}`, op.apiKey);
      expect(detail.body.deliveries.map((d: any) => [d.channel, d.endpoint, d.outcome])).toEqual([
        ['email', 'oncall@example.com', 'delivered'],
      ]);
    });
  });
});
