import { validationFailed } from '@shutter/kit';

/** Trims, then checks the length in Unicode code points (docs/api.md); answers the trimmed text. */
export function checkText(field: string, value: string, max: number): string {
  const text = value.trim();
  const length = [...text].length;
  if (length < 1) throw validationFailed(field, `${field} must be at least 1 character`);
  if (length > max) throw validationFailed(field, `${field} must be at most ${max} characters`);
  return text;
}
