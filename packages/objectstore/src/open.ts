/**
 * Opens the object store a configuration names, with every key under its root path (Milvus's minio.rootPath): the
 * S3 key prefix `<rootPath>/`, or the sub-directory `<path>/<rootPath>` for the local store. Two clusters with
 * different root paths can share one bucket or directory, and a drop in one (a deletePrefix of its collection)
 * never reaches the other's objects. An empty root path is the layout of earlier versions (keys at the top).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { KiteError } from '@kite/common';
import { LocalObjectStore } from './local';
import { S3ObjectStore, type S3ObjectStoreOptions } from './s3';
import type { ObjectStore } from './types';

export interface ObjectStoreConfig {
  type: 'local' | 's3';
  /** Directory of the local store. */
  path: string;
  /** Prefix of every key; empty for none. */
  rootPath: string;
  s3: Omit<S3ObjectStoreOptions, 'prefix' | 'ca'> & { caPemPath?: string };
}

/**
 * The root path without a trailing `/`, checked: `/`-separated non-empty parts, none `.` or `..` (so a local root
 * cannot leave its directory), no NUL, and not the local store's reserved `.kite-tmp`.
 */
export function checkRootPath(rootPath: string, setting = 'storage.rootPath'): string {
  const root = rootPath.endsWith('/') ? rootPath.slice(0, -1) : rootPath;
  if (root === '') return '';
  for (const part of root.split('/')) {
    if (part === '' || part === '.' || part === '..' || part.includes('\0') || part.includes('\\') || part === '.kite-tmp') {
      throw new KiteError(
        'ParameterInvalid',
        `${setting} "${rootPath}" is invalid: use a relative path like "kite-a" or "clusters/a" (parts between "/" non-empty, not "." or "..", no "\\")`,
      );
    }
  }
  return root;
}

function readPem(file: string, setting: string): Buffer {
  try {
    return fs.readFileSync(file);
  } catch (e) {
    throw new KiteError('ParameterInvalid', `${setting} "${file}" cannot be read: ${(e as Error).message}`);
  }
}

/** Opens the local or S3 store of `cfg`, rooted at `cfg.rootPath`. */
export async function openObjectStore(cfg: ObjectStoreConfig): Promise<ObjectStore> {
  const root = checkRootPath(cfg.rootPath);
  if (cfg.type === 'local') return LocalObjectStore.open(root === '' ? cfg.path : path.join(cfg.path, ...root.split('/')));
  const { caPemPath, ...s3 } = cfg.s3;
  if (caPemPath && !s3.endpoint.startsWith('https://')) {
    throw new KiteError('ParameterInvalid', `storage.s3.caPemPath is set but storage.s3.endpoint "${s3.endpoint}" is not https://: use an https endpoint or clear caPemPath`);
  }
  return S3ObjectStore.open({
    ...s3,
    ...(root !== '' ? { prefix: root } : {}),
    ...(caPemPath ? { ca: readPem(caPemPath, 'storage.s3.caPemPath') } : {}),
  });
}
