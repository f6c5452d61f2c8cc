import type { HTMLAttributes, ReactNode } from 'react';
import { Field } from './Field';

/**
 * A labelled one-line text input (a {@link Field}) bound to a string: no browser
 * autocomplete, `onChange` gets the text as typed.
 */
export function TextField({
  id,
  label,
  hint,
  error,
  className,
  value,
  onChange,
  type,
  inputMode,
  maxLength,
  spellCheck,
  inputClassName,
}: {
  id?: string;
  label: ReactNode;
  hint?: ReactNode;
  error?: string | null;
  /** the Field's class (e.g. `wide`) */
  className?: string;
  value: string;
  onChange: (value: string) => void;
  type?: 'text';
  inputMode?: HTMLAttributes<HTMLInputElement>['inputMode'];
  maxLength?: number;
  spellCheck?: boolean;
  /** the input's class (e.g. `mono`) */
  inputClassName?: string;
}) {
  return (
    <Field id={id} label={label} hint={hint} error={error} className={className}>
      {(c) => (
        <input
          {...c}
          type={type}
          inputMode={inputMode}
          autoComplete="off"
          spellCheck={spellCheck}
          maxLength={maxLength}
          className={inputClassName}
          value={value}
          onChange={(e) => onChange(e.target.value)}
        />
      )}
    </Field>
  );
}
