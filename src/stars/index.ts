// Stars: detection, centroids, PSF fits and metrics (filled in by the stars work).
export {};
