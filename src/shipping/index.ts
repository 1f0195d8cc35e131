export { shipImage, type ShipImageOptions, type ShipResult } from './shipImage.js';
export { transferImage, type TransferImageOptions, type TransferResult } from './transfer.js';
export {
  lookUpRemote,
  remoteLayerChains,
  type RemoteCopy,
  type RemoteLookup,
} from './remoteLayers.js';
export {
  shipThroughRegistry,
  registryReference,
  splitReference,
  type RegistryAuth,
  type RegistryShipOptions,
  type RegistryShipResult,
} from './registry.js';
export { chainIds, presentLayers, legacyLayerPosition } from './layers.js';
export { LayerCache, type LayerCacheOptions, type OpenedLayer } from './layerCache.js';
export { readSaveArchive, type SaveReadPlan, type SaveReadResult } from './saveArchive.js';
export {
  resolveSavedImage,
  choosePlatform,
  type ArchiveEntry,
  type ImagePlatform,
  type SavedImage,
  type WantedImage,
} from './saveLayout.js';
export { legacyArchive, legacyManifest } from './legacyArchive.js';
export type { ShippingProgress, ShippingProgressListener } from './progress.js';
export * from './errors.js';
