import * as fs from 'node:fs';
import { KiteError } from '@kite/common';

/** Reads a PEM file a setting names; a missing or unreadable file is a configuration error naming the setting. */
export function readPem(file: string, setting: string): Buffer {
  try {
    return fs.readFileSync(file);
  } catch (e) {
    throw new KiteError('ParameterInvalid', `${setting} "${file}" cannot be read: ${(e as Error).message}`);
  }
}
