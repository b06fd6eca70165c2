import type { BackupToCopy } from '../activities/sync-types';

/**
 * Backups whose objects together are at most this size are copied many to one activity
 * (copyBackups). Above it each object has its own activity, whose retry resumes a multipart upload
 * after its parts; below it a retry simply copies again, which costs less than Temporal's round
 * trips per object. The workflow decides which is which, so this is in lib/.
 */
export const SMALL_BACKUP_BYTES = 16 * 1024 * 1024;

export const isSmallBackup = (backup: BackupToCopy): boolean => backup.objects.reduce((sum, o) => sum + o.size, 0) <= SMALL_BACKUP_BYTES;
