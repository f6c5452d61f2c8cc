import { Notice } from './Notice';

/** What the last save said: saved, or why not. */
export interface SaveMessage {
  ok: boolean;
  text: string;
}

/** A form's submit button (disabled and saying so while it saves) and what the last save said. */
export function SaveActions({
  busy,
  label,
  message,
}: {
  busy: boolean;
  /** the button's text when not saving, e.g. "Save preferences" */
  label: string;
  message: SaveMessage | null;
}) {
  return (
    <>
      <div className="actions">
        <button type="submit" className="primary" disabled={busy}>
          {busy ? 'Saving…' : label}
        </button>
      </div>
      {message ? <Notice kind={message.ok ? 'success' : 'error'}>{message.text}</Notice> : null}
    </>
  );
}
