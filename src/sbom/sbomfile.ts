// The SBOM's name in a bundle and its media type, apart from the writer so
// that verify and the statement reader do not load the CycloneDX library.
export const SBOM_FILE = 'sbom.cdx.json';
export const SBOM_MEDIA_TYPE = 'application/vnd.cyclonedx+json';
