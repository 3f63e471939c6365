import path from 'node:path';
import type { WardenEnv } from './schema.js';
import type { StorageConfig } from './warden-config.js';

/** S3 when `BACKUP_S3_BUCKET` is set (its companion variables checked into `problems`), else a local directory. */
export function storageConfigOf(e: WardenEnv, cwd: string, problems: string[]): StorageConfig {
  if (e.BACKUP_S3_BUCKET !== undefined) {
    if (e.AWS_REGION === undefined) problems.push('AWS_REGION: required when BACKUP_S3_BUCKET is set');
    if ((e.AWS_ACCESS_KEY_ID === undefined) !== (e.AWS_SECRET_ACCESS_KEY === undefined)) {
      problems.push('AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY: set both or neither');
    }
    if (e.S3_SSE_KMS_KEY_ID !== undefined && e.S3_SSE !== 'aws:kms') {
      problems.push('S3_SSE_KMS_KEY_ID: only valid with S3_SSE=aws:kms');
    }
    const customEndpoint = e.S3_ENDPOINT !== undefined;
    return {
      kind: 's3',
      bucket: e.BACKUP_S3_BUCKET,
      region: e.AWS_REGION ?? '',
      accessKeyId: e.AWS_ACCESS_KEY_ID,
      secretAccessKey: e.AWS_SECRET_ACCESS_KEY,
      endpoint: e.S3_ENDPOINT,
      forcePathStyle: e.S3_FORCE_PATH_STYLE ?? customEndpoint,
      prefix: e.S3_PREFIX === '' || e.S3_PREFIX.endsWith('/') ? e.S3_PREFIX : `${e.S3_PREFIX}/`,
      serverSideEncryption: e.S3_SSE === '' ? undefined : e.S3_SSE,
      kmsKeyId: e.S3_SSE_KMS_KEY_ID,
      checksumWhenRequired: e.S3_CHECKSUM_WHEN_REQUIRED ?? customEndpoint,
    };
  }
  return {
    kind: 'local',
    dir: path.resolve(cwd, e.BACKUP_DIR),
    groupReadable: e.BACKUP_DIR_GROUP_READABLE,
  };
}
