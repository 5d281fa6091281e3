// R packages: the DESCRIPTION of each package installed in an R library (a
// folder of package folders: R's own library, site-library, renv's). An
// installed package's DESCRIPTION has a Built field and names its folder;
// packages of priority "base" are R itself (base's version is R's). Packages
// with biocViews come from Bioconductor, the others from CRAN.
import { field, header } from './fields.js';
import { makePackage, type Package } from './package.js';

const DESCRIPTION = /(^|\/)([^/]+)\/DESCRIPTION$/;
const LIMIT = 256 << 10;

/** Only DESCRIPTION files under a folder whose path names a library (R/library, site-library, renv/library). */
export const rWants = (path: string): number | undefined => (DESCRIPTION.test(path) && /(^|\/)[^/]*library\//.test(path) ? LIMIT : undefined);

export function readR(path: string, text: string): Package | undefined {
  const h = header(text);
  const name = field(h, 'Package');
  if (!field(h, 'Built') || name !== DESCRIPTION.exec(path)?.[2]) return undefined;
  const version = field(h, 'Version');
  if (field(h, 'Priority') === 'base') return name === 'base' ? makePackage({ ecosystem: 'generic', name: 'R', version, path }) : undefined;
  const bioc = h.has('biocViews');
  return makePackage({ ecosystem: bioc ? 'bioconductor' : 'cran', name, version, licence: field(h, 'License'), path });
}
