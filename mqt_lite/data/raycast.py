"""Ray casting shared by the synthetic worlds: solids, a pinhole camera, analytic hits, and the labels of a scene.

Both worlds (`synthetic.py`, the classic one, and `rich.py`) build scenes from the same four primitives (box,
sphere, cylinder, cone), hit analytically for all rays at once and only inside each solid's projected bounding box.
The label conventions are those of `synthetic.py`'s docstring: world frame x right, y up, z forward (metres);
depth is z-depth; normals are returned in the camera frame as in OpenCV (x right, y down, z forward).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..tasks import CLASS_NAMES
from .schema import label_boundaries

SEMSEG = {name: i for i, name in enumerate(CLASS_NAMES["synthetic"]["semseg"])}
PARTS = {name: i for i, name in enumerate(CLASS_NAMES["synthetic"]["parts"])}
SHAPES = ("box", "sphere", "cylinder", "cone")
PART_COS = math.cos(math.radians(45.0))
NEAR = 0.05  # objects closer than this to the camera plane are ray cast over the whole image
EPS = 1e-4  # minimum ray distance of a hit (metres)


@dataclass
class Solid:
    """One primitive: shape (one of SHAPES), base position (x, y0, z), yaw about y, half size (x, y, z)."""

    shape: str
    pos: np.ndarray
    yaw: float
    half: np.ndarray


@dataclass
class Camera:
    """A pinhole camera: position, yaw, rotation (rows: its right, down and forward axes in world coordinates),
    focal length in pixels and the world direction of every pixel's ray (3 arrays (H, W), unit forward component,
    so the ray parameter IS z-depth). `fy` is the vertical focal length when pixels are not square (None: f)."""

    pos: np.ndarray
    yaw: float
    rot: np.ndarray
    f: float
    dirs: tuple
    fy: float | None = None


@dataclass
class Hit:
    """Where a solid is the nearest surface so far inside its screen box (rows, cols): the mask `hit` of that
    box, the ray distance t, the local normal n and hit point p (3 arrays each, over the whole box), and the
    cosine and sine of the solid's yaw (local -> world)."""

    rows: slice
    cols: slice
    hit: np.ndarray
    t: np.ndarray
    n: tuple
    p: tuple
    cos: float
    sin: float

    def world_normal(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The world normal (3 arrays) at the hit pixels."""
        c, s, n, hit = self.cos, self.sin, self.n, self.hit
        return (c * n[0] + s * n[2])[hit], n[1][hit], (c * n[2] - s * n[0])[hit]


def intersect(obj: Solid, o: np.ndarray, d: tuple) -> tuple[np.ndarray, tuple, tuple]:
    """Entry distance t (inf = miss), local normal and local hit point of rays o + t d.

    The ray components d = (dx, dy, dz) are arrays in the object's frame (base centre at the origin, y up).
    """
    dx, dy, dz = d
    hx, hy, hz = (float(h) for h in obj.half)
    ox, oy, oz = (float(c) for c in o)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        if obj.shape == "box":  # slabs
            slabs = [((-h - c) / di, (h - c) / di) for h, c, di in ((hx, ox, dx), (hy, oy - hy, dy), (hz, oz, dz))]
            near = [np.minimum(a, b) for a, b in slabs]
            t_in = np.maximum(np.maximum(near[0], near[1]), near[2])
            far = [np.maximum(a, b) for a, b in slabs]
            t_out = np.minimum(np.minimum(far[0], far[1]), far[2])
            t = np.where((t_in <= t_out) & (t_in > EPS), t_in, np.inf)
            on_x = near[0] >= t_in
            on_y = ~on_x & (near[1] >= t_in)
            n = (np.where(on_x, -np.sign(dx), 0), np.where(on_y, -np.sign(dy), 0),
                 np.where(on_x | on_y, 0, -np.sign(dz)))
        elif obj.shape == "sphere":
            cy = oy - hx  # origin relative to the centre
            a, b = dx * dx + dy * dy + dz * dz, dx * ox + dy * cy + dz * oz
            t = (-b - np.sqrt(b * b - a * (ox * ox + cy * cy + oz * oz - hx * hx))) / a
            t = np.where(t > EPS, t, np.inf)  # nan (miss) compares False
        else:  # cylinder / cone of radius hx, height 2 hy: lateral surface and caps, nearest valid hit
            h, r = 2 * hy, hx
            k2 = (r / h) ** 2 if obj.shape == "cone" else 0.0  # cone: x^2 + z^2 = k2 (h - y)^2, apex at y = h
            a = dx * dx + dz * dz - k2 * dy * dy
            b = ox * dx + oz * dz + k2 * (h - oy) * dy
            c = ox * ox + oz * oz - (k2 * (h - oy) ** 2 if k2 else r * r)
            root = np.sqrt(b * b - a * c)
            t = np.full(dx.shape, np.inf, np.float32)
            for tc in ((-b - root) / a, (-b + root) / a):  # both roots: the near one may hit the mirrored cone
                y = oy + tc * dy
                t = np.where((tc > EPS) & (y >= 0) & (y <= h) & (tc < t), tc, t)
            cap = np.zeros(dx.shape, bool)
            for y_cap in ((0.0, h) if k2 == 0 else (0.0,)):
                tc = (y_cap - oy) / dy
                px, pz = ox + tc * dx, oz + tc * dz
                hit = (tc > EPS) & (px * px + pz * pz <= r * r) & (tc < t)
                t, cap = np.where(hit, tc, t), cap | hit
    tf = np.where(np.isfinite(t), t, 0)
    p = (ox + tf * dx, oy + tf * dy, oz + tf * dz)
    if obj.shape == "sphere":
        n = (p[0] / hx, (p[1] - hx) / hx, p[2] / hx)
    elif obj.shape != "box":
        up = np.where(cap, np.where(p[1] > hy, 1.0, -1.0), k2 * (h - p[1]))  # gradient of the surface, halved
        nx, nz = np.where(cap, 0, p[0]), np.where(cap, 0, p[2])
        length = np.maximum(np.sqrt(nx * nx + up * up + nz * nz), 1e-12)
        n = (nx / length, up / length, nz / length)
    return t, n, p


def screen_box(obj: Solid, cam: np.ndarray, rot: np.ndarray, f: float, H: int, W: int,
               fy: float | None = None) -> tuple[slice, slice]:
    """Rows and columns covering the object's bounding sphere (whole image when it is too close, none when it is
    behind the camera)."""
    fy = f if fy is None else fy
    centre = obj.pos + np.array([0, obj.half[1], 0], np.float32)
    radius = float(np.linalg.norm(obj.half))
    x, y, z = rot @ (centre - cam)  # camera frame
    if z + radius < 0:  # wholly behind the camera: every ray misses it (an empty box)
        return slice(0, 0), slice(0, 0)
    if z - radius < NEAR:
        return slice(0, H), slice(0, W)
    z_lo, z_hi = z - radius, z + radius
    span = lambda a: (min((a - radius) / z_lo, (a - radius) / z_hi), max((a + radius) / z_lo, (a + radius) / z_hi))
    (u0, u1), (v0, v1) = span(x), span(y)
    cols = slice(max(0, int(f * u0 + W / 2) - 1), min(W, int(math.ceil(f * u1 + W / 2)) + 1))
    rows = slice(max(0, int(fy * v0 + H / 2) - 1), min(H, int(math.ceil(fy * v1 + H / 2)) + 1))
    return rows, cols


def trace(obj: Solid, camera: Camera, depth: np.ndarray, box: tuple[slice, slice] | None = None) -> Hit | None:
    """Ray cast one solid inside its screen box (`box`, or computed by screen_box); None when it is nowhere
    nearer than `depth`."""
    H, W = depth.shape
    rows, cols = box or screen_box(obj, camera.pos, camera.rot, camera.f, H, W, camera.fy)
    if rows.start >= rows.stop or cols.start >= cols.stop:  # behind the camera or outside the view: no ray hits it
        return None
    c, s = math.cos(obj.yaw), math.sin(obj.yaw)  # world -> local: rotate by -yaw about y
    to_local = lambda x, y, z: (c * x - s * z, y, s * x + c * z)
    o_loc = to_local(*(camera.pos - obj.pos))
    t, n, p = intersect(obj, o_loc, to_local(*(a[rows, cols] for a in camera.dirs)))
    hit = t < depth[rows, cols]
    if not hit.any():
        return None
    return Hit(rows, cols, hit, t, n, p, c, s)


CORNERS = np.array([(x, y, z) for x in (-1, 1) for y in (0, 2) for z in (-1, 1)], np.float32)  # of a unit box


def screen_boxes(solids: list[Solid], camera: Camera, H: int, W: int) -> list[tuple[slice, slice]]:
    """Rows and columns covering each solid, from the 8 corners of its bounding box (tighter than screen_box's
    sphere for thin boards and legs): empty when every corner is outside one side of the view, the whole image
    when the box reaches behind the camera otherwise."""
    if not solids:
        return []
    half = np.stack([s.half for s in solids])  # (N, 3)
    local = CORNERS[None] * half[:, None]  # (N, 8, 3), base centre at the origin
    c = np.array([math.cos(s.yaw) for s in solids], np.float32)[:, None]
    s_ = np.array([math.sin(s.yaw) for s in solids], np.float32)[:, None]
    world = np.stack([c * local[..., 0] + s_ * local[..., 2], local[..., 1], c * local[..., 2] - s_ * local[..., 0]], -1)
    x, y, z = np.moveaxis((world + np.stack([s.pos for s in solids])[:, None] - camera.pos) @ camera.rot.T, -1, 0)
    fy = camera.f if camera.fy is None else camera.fy
    a, b = W / (2 * camera.f), H / (2 * fy)  # the view: |x| <= a z, |y| <= b z
    outside = ((x < -a * z).all(1) | (x > a * z).all(1) | (y < -b * z).all(1) | (y > b * z).all(1)
               | (z < NEAR).all(1))
    near = (z < NEAR).any(1)
    zc = np.maximum(z, NEAR)
    c0 = np.maximum(0, np.floor(camera.f * (x / zc).min(1) + W / 2).astype(int) - 1)
    c1 = np.minimum(W, np.ceil(camera.f * (x / zc).max(1) + W / 2).astype(int) + 1)
    r0 = np.maximum(0, np.floor(fy * (y / zc).min(1) + H / 2).astype(int) - 1)
    r1 = np.minimum(H, np.ceil(fy * (y / zc).max(1) + H / 2).astype(int) + 1)
    return [(slice(0, 0), slice(0, 0)) if o else (slice(0, H), slice(0, W)) if n else
            (slice(int(i), int(j)), slice(int(k), int(m)))
            for o, n, i, j, k, m in zip(outside, near, r0, r1, c0, c1)]


def write_hit(h: Hit, instance_id: int, depth: np.ndarray, normal: list, instance: np.ndarray) -> None:
    """Write a traced solid's depth, world normal and instance id where it is the nearest surface."""
    rows, cols, hit = h.rows, h.cols, h.hit
    depth[rows, cols][hit] = h.t[hit]
    for axis, value in zip(normal, h.world_normal()):
        axis[rows, cols][hit] = value
    instance[rows, cols][hit] = instance_id


def scene_labels(image: np.ndarray, semseg: np.ndarray, instance: np.ndarray, depth: np.ndarray, normal: list,
                 rot: np.ndarray, is_obj: np.ndarray) -> dict[str, np.ndarray]:
    """The schema arrays of a rendered scene: parts from the world normal's up component on the objects
    (`is_obj`), saliency on the objects, boundaries, normals turned into the camera frame (plus `instance`)."""
    by_normal = np.array([PARTS["top"], PARTS["side"], PARTS["bottom"]], np.uint8)
    parts = by_normal[(normal[1] <= PART_COS).view(np.uint8) + (normal[1] < -PART_COS).view(np.uint8)]
    parts[~is_obj] = PARTS["background"]
    normals_cam = np.stack([sum(rot[i, j] * normal[j] for j in range(3)) for i in range(3)])  # (3, H, W)
    return {
        "image": image, "semseg": semseg, "parts": parts, "sal": is_obj.astype(np.uint8),
        "edge": label_boundaries(semseg, instance), "depth": depth, "normals": normals_cam.astype(np.float32),
        "instance": instance,
    }
