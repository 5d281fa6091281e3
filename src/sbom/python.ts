// Python distributions: the core metadata of each one installed, in
// *.dist-info/METADATA (wheels, pip) or *.egg-info/PKG-INFO (setuptools; an
// .egg-info may also be that file itself), in a site-packages or
// dist-packages folder. Licence: License-Expression (PEP 639), else License.
import { field, header } from './fields.js';
import { makePackage, type Package } from './package.js';

const METADATA = /(^|\/)(site|dist)-packages\/[^/]+\.(dist-info\/METADATA|egg-info\/PKG-INFO|egg-info)$/;
/** The header is what is read; a long description may follow it. */
const LIMIT = 1 << 20;

export const pythonWants = (path: string): number | undefined => (METADATA.test(path) ? LIMIT : undefined);

export function readPython(path: string, text: string): Package | undefined {
  const h = header(text);
  if (!field(h, 'Metadata-Version')) return undefined;
  return makePackage({
    ecosystem: 'pypi',
    name: field(h, 'Name'),
    version: field(h, 'Version'),
    licence: field(h, 'License-Expression') ?? field(h, 'License'),
    path,
  });
}
