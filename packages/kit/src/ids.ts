import { v7, validate } from 'uuid';

/** UUIDv7: time-ordered ids created by the service that owns the row. */
export const newId = (): string => v7();
export const isUuid = (s: string): boolean => validate(s);
