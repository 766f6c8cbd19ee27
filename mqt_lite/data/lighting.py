"""Lights and camera of the rich synthetic world: what turns surface colours into a photograph.

Real photos are lit by several lamps of different colour, have soft shadows under furniture and darker corners,
and pass through a camera that sets an exposure, a white balance, blurs, adds noise and compresses. None of these
change the geometry the labels describe, so randomising them teaches the model to ignore them (domain
randomisation). Each part is cheap by design, to keep a 128x128 scene near 100 per second on one thread:
- diffuse light from 1-3 point lights of random colour temperature (an approximation of the black-body colour),
  with 1 / (1 + d^2 / falloff^2) falloff, at full resolution (normals are sharp);
- visibility (soft shadows of each furniture group's bounding sphere towards each light, darkening in room corners
  and under furniture: ambient-occlusion-like) is smooth, so it is computed on a grid VIS_STEP times coarser and
  upsampled bilinearly;
- the camera: exposure to a random mean brightness, white balance error, vignetting, optional blur, gamma 2
  (a square root, close to sRGB and cheap), sensor noise, 8-bit rounding and optional JPEG compression.
"""
from __future__ import annotations

import functools
import io
import math
from dataclasses import dataclass

import numpy as np
from PIL import Image

LIGHTS, LIGHT_KELVIN, LIGHT_POWER, LIGHT_FALLOFF = (1, 3), (2200.0, 7500.0), (0.6, 1.6), (1.5, 5.0)
AMBIENT = (0.15, 0.45)
VIS_STEP = 4  # visibility grid: one sample per VIS_STEP x VIS_STEP pixels
SHADOW_STRENGTH, SHADOW_SOFTNESS = (0.5, 0.9), 0.6
CORNER_DARKENING, CORNER_REACH = (0.2, 0.5), 0.35  # metres
CONTACT_DARKENING = 0.5  # ambient occlusion under a group, at its centre
MEAN_BRIGHTNESS, WHITE_BALANCE, VIGNETTE = (0.12, 0.35), 0.12, (0.0, 0.5)
BLUR_PROB, BLUR_WEIGHT = 0.5, (0.05, 0.3)  # 3-tap kernel (w, 1 - 2w, w) across rows and columns
NOISE, READ_NOISE = (0.0, 0.04), (0.0, 0.015)
JPEG_PROB, JPEG_QUALITY = 0.5, (25, 90)


def kelvin_rgb(kelvin: float) -> np.ndarray:
    """Approximate colour (3,) of a black body at this temperature, scaled to a maximum of 1 (Tanner Helland's
    fit of the CIE colour-matching data, valid 1000-40000 K)."""
    t = kelvin / 100
    r = 1.0 if t <= 66 else 1.293 * (t - 60) ** -0.1332
    g = 0.390 * math.log(t) - 0.632 if t <= 66 else 1.130 * (t - 60) ** -0.0755
    b = 1.0 if t >= 66 else (0.0 if t <= 19 else 0.543 * math.log(t - 10) - 1.196)
    rgb = np.clip(np.array([r, g, b]), 0, 1)
    return (rgb / rgb.max()).astype(np.float32)


@dataclass
class Lighting:
    """Ambient colour (3,), lamps [(position (3,), colour x power (3,), falloff distance)], and how dark the
    shadows and the corners get."""

    ambient: np.ndarray
    lights: list
    shadow: float
    corners: float


def sample_lights(rng: np.random.Generator, room) -> Lighting:
    """1-3 lamps below the ceiling anywhere over the room, an ambient light, and shadow and corner strengths."""
    lights = []
    for _ in range(rng.integers(LIGHTS[0], LIGHTS[1] + 1)):
        pos = np.array([rng.uniform(-1, 1) * room.half_width * 0.9, room.height * rng.uniform(0.6, 0.95),
                        rng.uniform(-room.behind, room.depth)], np.float32)
        colour = kelvin_rgb(rng.uniform(*LIGHT_KELVIN)) * rng.uniform(*LIGHT_POWER)
        lights.append((pos, colour, rng.uniform(*LIGHT_FALLOFF)))
    ambient = kelvin_rgb(rng.uniform(*LIGHT_KELVIN)) * rng.uniform(*AMBIENT)
    return Lighting(ambient, lights, rng.uniform(*SHADOW_STRENGTH), rng.uniform(*CORNER_DARKENING))


@functools.lru_cache(maxsize=32)
def _upsample_matrix(n: int, step: int) -> np.ndarray:
    """(n, m) bilinear interpolation from the samples at pixels step // 2, step // 2 + step, ... to all n pixels."""
    samples = np.arange(step // 2, n, step)
    eye = np.eye(len(samples), dtype=np.float32)
    return np.stack([np.interp(np.arange(n), samples, eye[j]) for j in range(len(samples))], 1).astype(np.float32)


def _coarse(a: np.ndarray) -> np.ndarray:
    return a[VIS_STEP // 2::VIS_STEP, VIS_STEP // 2::VIS_STEP].ravel()


def _blobs(groups: list) -> tuple[np.ndarray, np.ndarray]:
    """Centres (G, 3, 1) and radii (G, 1) of the groups' bounding spheres."""
    if not groups:
        return np.zeros((0, 3, 1), np.float32), np.zeros((0, 1), np.float32)
    return (np.stack([g.centre for g in groups])[:, :, None].astype(np.float32),
            np.array([[g.radius] for g in groups], np.float32))


def _shadow(p: np.ndarray, light: np.ndarray, centres: np.ndarray, radii: np.ndarray,
            strength: float) -> np.ndarray:
    """Visibility (N,) of a point light from points p (3, N): each sphere darkens the points whose segment to the
    light passes within its radius (softly), unless the point is inside the sphere (its own group)."""
    if not len(radii):
        return np.ones(p.shape[1], np.float32)
    to_light = light[:, None] - p  # (3, N)
    to_centre = centres - p[None]  # (G, 3, N)
    along = np.clip((to_centre * to_light[None]).sum(1) / (to_light * to_light).sum(0), 0, 1)  # (G, N)
    miss = np.sqrt(((to_centre - along[:, None] * to_light[None]) ** 2).sum(1))
    occ = np.clip((radii - miss) / (SHADOW_SOFTNESS * radii) + 0.5, 0, 1)
    occ = np.where(((to_centre ** 2).sum(1) > radii ** 2) & (along > 0), occ, 0)
    return 1 - strength * occ.max(0)


def _occlusion(p: np.ndarray, n: np.ndarray, room, centres: np.ndarray, radii: np.ndarray,
               strength: float) -> np.ndarray:
    """Ambient visibility (N,): darker near the room's edges (distance to the nearest other room plane) and on the
    floor under the groups."""
    x, y, z = p
    dist = (room.half_width - np.abs(x), np.minimum(y, room.height - y), np.minimum(room.depth - z, z + room.behind))
    ao = np.ones_like(x)
    for axis in range(3):  # a surface is not darkened by its own plane
        near = np.exp(-np.maximum(dist[axis], 0) / CORNER_REACH) * (np.abs(n[axis]) < 0.5)
        ao = ao * (1 - strength * near)
    if len(radii):
        flat = np.sqrt((x - centres[:, 0]) ** 2 + (z - centres[:, 2]) ** 2)  # (G, N)
        below = (y < centres[:, 1]) & ((flat ** 2 + (y - centres[:, 1]) ** 2) > radii ** 2)
        ao = ao * (1 - CONTACT_DARKENING * np.where(below, np.clip(1 - flat / radii, 0, 1), 0).max(0))
    return ao


def shade(surface: tuple, lighting: Lighting, groups: list, room) -> np.ndarray:
    """(3, H, W) light arriving at each pixel's surface. surface: (points (3 arrays), world normals (3 arrays),
    is_object mask)."""
    points, normal, _ = surface
    H, W = points[0].shape
    my, mx = _upsample_matrix(H, VIS_STEP), _upsample_matrix(W, VIS_STEP)
    h, w = my.shape[1], mx.shape[1]
    p = np.stack([_coarse(a) for a in points])
    n = np.stack([_coarse(a) for a in normal])
    centres, radii = _blobs(groups)
    up = lambda vis: my @ vis.reshape(h, w) @ mx.T  # coarse (h * w,) -> (H, W)
    total = lighting.ambient[:, None, None] * up(_occlusion(p, n, room, centres, radii, lighting.corners))[None]
    for pos, colour, falloff in lighting.lights:
        lx, ly, lz = (pos[i] - points[i] for i in range(3))
        d2 = lx * lx + ly * ly + lz * lz
        cos = np.maximum(normal[0] * lx + normal[1] * ly + normal[2] * lz, 0) / np.sqrt(d2)
        power = cos / (1 + d2 / (falloff * falloff)) * up(_shadow(p, pos, centres, radii, lighting.shadow))
        total = total + power[None] * colour[:, None, None]
    return total.astype(np.float32)


def _blur(x: np.ndarray, w: float) -> np.ndarray:
    """The 3-tap kernel (w, 1 - 2w, w) along rows and columns of (C, H, W) (edges repeated)."""
    y = x * (1 - 2 * w)
    y[:, 1:] += w * x[:, :-1]
    y[:, :-1] += w * x[:, 1:]
    y[:, 0] += w * x[:, 0]
    y[:, -1] += w * x[:, -1]
    z = y * (1 - 2 * w)
    z[:, :, 1:] += w * y[:, :, :-1]
    z[:, :, :-1] += w * y[:, :, 1:]
    z[:, :, 0] += w * y[:, :, 0]
    z[:, :, -1] += w * y[:, :, -1]
    return z


@functools.lru_cache(maxsize=32)
def _radius2(H: int, W: int) -> np.ndarray:
    """(H, W) squared distance from the image centre, 1 at the corners."""
    yy, xx = np.ogrid[-1:1:H * 1j, -1:1:W * 1j]
    return ((xx * xx + yy * yy) / 2).astype(np.float32)


def develop(rng: np.random.Generator, radiance: np.ndarray) -> np.ndarray:
    """Linear (3, H, W) radiance -> (H, W, 3) uint8 photo through a random camera (see the module docstring)."""
    _, H, W = radiance.shape
    gain = rng.uniform(*MEAN_BRIGHTNESS) / max(float(radiance.mean()), 1e-6)
    balance = (1 + rng.uniform(-WHITE_BALANCE, WHITE_BALANCE, 3)).astype(np.float32)
    x = radiance * (gain * balance)[:, None, None] * (1 - rng.uniform(*VIGNETTE) * _radius2(H, W))[None]
    if rng.random() < BLUR_PROB:
        x = _blur(x, rng.uniform(*BLUR_WEIGHT))
    x = np.sqrt(np.clip(x, 0, 1))
    noise = rng.uniform(*NOISE) * (x[0] + x[1] + x[2]) / 3 + rng.uniform(*READ_NOISE)  # shot noise grows with light
    x = x + (noise * rng.standard_normal((H, W), dtype=np.float32))[None]
    image = np.ascontiguousarray(np.clip(x * 255 + 0.5, 0, 255).astype(np.uint8).transpose(1, 2, 0))
    if rng.random() < JPEG_PROB:
        buffer = io.BytesIO()
        Image.fromarray(image).save(buffer, format="JPEG", quality=int(rng.integers(*JPEG_QUALITY)))
        image = np.asarray(Image.open(buffer).convert("RGB"))
    return image
