import type { BackupManifest } from '@warden/catalog';
import { RestoreError } from '@warden/errors';
import { type EncryptionKey, keyIdOf } from '../codecs/encryption.js';

/**
 * An encrypted backup needs the key it was made with; both cases are told before anything is
 * downloaded, by the key id the manifest records.
 */
export function assertKeyOpensBackup(
  manifest: BackupManifest,
  encryptionKey: EncryptionKey | undefined,
): void {
  if (!manifest.encryption) return;
  if (encryptionKey === undefined) {
    throw new RestoreError(
      'ENCRYPTION_KEY_MISSING',
      `backup ${manifest.filename} is encrypted (key ${manifest.encryption.keyId}); set BACKUP_ENCRYPTION_KEY to the key it was made with`,
    );
  }
  const keyId = keyIdOf(encryptionKey);
  if (keyId !== manifest.encryption.keyId) {
    throw new RestoreError(
      'ENCRYPTION_KEY_MISMATCH',
      `backup ${manifest.filename} was encrypted with key ${manifest.encryption.keyId}, the configured key is ${keyId}`,
    );
  }
}
