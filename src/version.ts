// rep's own version, as recorded in generated files and provenance.
export const VERSION = '0.1.0';
