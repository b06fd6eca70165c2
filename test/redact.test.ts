import { describe, expect, it } from 'vitest';
import { redact } from '../activities/sources/postgres/connect';
import { redactUrl, redactUrls, secretQueryKeys } from '../lib/redact';

describe('redacting URLs', () => {
  it('masks the password and every secret query value, keeping the rest readable', () => {
    expect(redactUrl('postgres://app:hunter2@db.example:5432/app?sslmode=verify-full&password=hunter3&sslpassword=hunter4'))
      .toBe('postgres://app:***@db.example:5432/app?sslmode=verify-full&password=***&sslpassword=***');
    expect(redactUrl('redis://cache:6379/0?PASSWORD=x&token=y')).toBe('redis://cache:6379/0?PASSWORD=***&token=***');
  });

  it('leaves a URL without secrets and text that is no URL as they are', () => {
    expect(redactUrl('postgres://app@db:5432/app?sslmode=require')).toBe('postgres://app@db:5432/app?sslmode=require');
    expect(redactUrl('/var/lib/x')).toBe('/var/lib/x');
  });

  it('finds URLs inside free text, such as an error message or a JSON document', () => {
    const text = JSON.stringify({ url: 'postgres://u@h/db?password=leaked-value', note: 'see https://h/x?token=abc for more' });
    const redacted = redactUrls(text);
    expect(redacted).not.toContain('leaked-value');
    expect(redacted).not.toContain('abc');
    expect(redacted).toContain('postgres://u@h/db?password=***');
  });

  it('is the one redaction the postgres driver uses for its messages', () => {
    expect(redact('postgres://u@h/db?password=p')).toBe(redactUrl('postgres://u@h/db?password=p'));
  });

  it('names each secret query key once, whatever its case', () => {
    expect(secretQueryKeys('postgres://u@h/db?password=a&Password=b&sslmode=require&sslpassword=c')).toEqual(['password', 'Password', 'sslpassword']);
    expect(secretQueryKeys('not a url')).toEqual([]);
  });
});
