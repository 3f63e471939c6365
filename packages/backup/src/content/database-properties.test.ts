import { describe, expect, it } from 'vitest';
import { propertiesSection } from './database-properties.js';

const hex = (text: string) => Buffer.from(text, 'utf8').toString('hex');

describe('propertiesSection', () => {
  it('is empty when the database has no comment and no settings', () => {
    expect(propertiesSection({ comment: null, settings: [] })).toBe('');
  });

  it('writes ASCII only, every name and value hex-encoded, one block per statement', () => {
    const hostile = "q'; DROP DATABASE y; -- \\ $warden$ %s\nnaïve 名 😀";
    const section = propertiesSection({
      comment: hostile,
      settings: [
        { role: null, name: 'app.note', value: hostile },
        { role: null, name: 'search_path', value: '"$user", public, "dot.ted"' },
        { role: 'Rôle "x"', name: 'app.tenant', value: 'acme' },
      ],
    });
    expect(section).toMatch(/^[\x20-\x7e\n]*$/);
    expect(section.split('$warden$')).toHaveLength(3);
    for (const text of ["q'", 'DROP', 'acme', 'app.note', 'Rôle', 'public'])
      expect(section).not.toContain(text);
    expect(section).toContain(
      `EXECUTE pg_catalog.format('COMMENT ON DATABASE %I IS %L', pg_catalog.current_database(), pg_catalog.convert_from(pg_catalog.decode('${hex(hostile)}', 'hex'), 'UTF8'));`,
    );
    // A list setting's items each as their own literal, as pg_dumpall writes them.
    expect(section).toContain(
      `format('ALTER DATABASE %I SET %I TO %L, %L, %L', pg_catalog.current_database(), pg_catalog.convert_from(pg_catalog.decode('${hex('search_path')}', 'hex'), 'UTF8'), pg_catalog.convert_from(pg_catalog.decode('${hex('$user')}', 'hex'), 'UTF8')`,
    );
    expect(section).toContain(
      `format('ALTER ROLE %I IN DATABASE %I SET %I TO %L', pg_catalog.convert_from(pg_catalog.decode('${hex('Rôle "x"')}', 'hex'), 'UTF8'), pg_catalog.current_database()`,
    );
    expect(section.match(/EXCEPTION WHEN OTHERS THEN/g)).toHaveLength(5);
    // What a WARNING names is ASCII too, so any client encoding can show it.
    expect(section).toContain(hex('setting app.tenant of role "R\\u00f4le ""x""" in the database'));
  });
});
