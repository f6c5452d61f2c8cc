import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { stringify } from 'csv-stringify';
import type { Response } from 'express';
import type { Logger } from '../logger';
import type { KeysetPosition } from '../db/reports';

/** Rows read from PostgreSQL per query while an export streams. */
export const EXPORT_BATCH_ROWS = 2_000;

export type CsvValue = string | number | null;

/** A text cell a spreadsheet would run as a formula gets a leading apostrophe (numbers stay as they are). */
export function neutraliseFormula(s: string): string {
  return /^[=+\-@\t\r]/.test(s) && !/^-?\d+(\.\d+)?$/.test(s) ? `'${s}` : s;
}

export interface CsvExport<R> {
  filename: string;
  columns: readonly string[];
  /** the next rows after `after`, at most EXPORT_BATCH_ROWS, in keyset order */
  batch: (after: KeysetPosition | undefined) => Promise<R[]>;
  position: (row: R) => KeysetPosition;
  record: (row: R) => Record<string, CsvValue>;
  log: Logger;
}

/**
 * Streams rows as CSV (RFC 4180, CRLF, a header line) in constant memory: PostgreSQL
 * is read a keyset batch at a time (no transaction or connection held between
 * batches, so a slow client never pins one), and the next batch is only read once
 * the response has taken the previous one (stream backpressure through `pipeline`).
 * A client that goes away stops the reads. The first batch is read before anything
 * is sent, so a failing query is still an ordinary JSON error; a failure later
 * aborts the response (the client sees a broken transfer, never a short file that
 * looks complete).
 */
export async function streamCsv<R>(res: Response, x: CsvExport<R>): Promise<void> {
  const first = await x.batch(undefined);
  let rowsSent = 0;
  let readFailure: unknown = undefined;
  async function* records(): AsyncGenerator<Record<string, CsvValue>> {
    let rows = first;
    for (;;) {
      for (const r of rows) {
        rowsSent++;
        yield x.record(r);
      }
      if (rows.length < EXPORT_BATCH_ROWS) return;
      try {
        rows = await x.batch(x.position(rows[rows.length - 1]!));
      } catch (err) {
        readFailure = err;
        throw err;
      }
    }
  }
  res.status(200);
  res.setHeader('content-type', 'text/csv; charset=utf-8');
  res.setHeader('content-disposition', `attachment; filename="${x.filename}"`);
  res.setHeader('cache-control', 'no-store');
  const csv = stringify({
    header: true,
    columns: [...x.columns],
    record_delimiter: 'windows',
    cast: { string: neutraliseFormula },
  });
  try {
    await pipeline(Readable.from(records()), csv, res);
    x.log.info({ export: x.filename, rows: rowsSent }, 'csv export sent');
  } catch (err) {
    if (readFailure === undefined && res.destroyed) {
      x.log.info({ export: x.filename, rows: rowsSent }, 'csv export stopped: the client went away');
      return;
    }
    x.log.error(
      { err: readFailure ?? err, export: x.filename, rows: rowsSent },
      'csv export failed mid-stream; response aborted',
    );
    res.destroy();
  }
}
