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
export { TarFilter, type TarEntryHeader, type TarFilterOptions } from './tarFilter.js';
export type { ShippingProgress, ShippingProgressListener } from './progress.js';
export * from './errors.js';
