-- jarvis_pose: ground truth for jarvis-play's tests and demo.
--
-- Writes <world>/jarvis_pose.jsonl, one JSON object per line:
--   {"k":"pose","t":<s>,"p":[x,y,z],"yaw":<rad>,"pitch":<rad>,"c":{"up":..,"dig":..,...}}  every server step
--   {"k":"dig","t":..,"node":"default:stone","at":[x,y,z]}                                   on every dug node
--   {"k":"ack","t":..,"id":N}                                                                 after a command
--   {"k":"place","t":..,"node":"default:wood","at":[x,y,z]}                                  on every placed node
--   {"k":"craft","t":..,"item":"default:wood","count":4}                                      on every craft
--   {"k":"pickup","t":..,"item":"default:cobble","count":1}                                   an item entity picked up
--   {"k":"drop","t":..,"item":"default:dirt","count":1}                                       an item dropped
--   {"k":"reset","t":..,"restored":N}                                                         after a reset command
-- Reads <world>/jarvis_cmd.txt (written atomically by Python, removed here once executed), lines:
--   id N | tp x y z yaw_deg pitch_deg | setnode x y z name | give item count
--   | reset x y z yaw_deg pitch_deg  (undo every node dug or placed since the last reset, empty the
--     inventory and craft grid, remove dropped items near the player, close its formspec, teleport)
-- The events and the reset let jarvis-play judge an evaluation trial by what the player did.
-- With the setting jarvis_arena = true it builds a flat stone platform high in the air and puts the
-- player on it, so tests start from the same place whatever the map generator made.

local worldpath = minetest.get_worldpath()
local log = io.open(worldpath .. "/jarvis_pose.jsonl", "w")
local cmd_path = worldpath .. "/jarvis_cmd.txt"
local arena = minetest.settings:get_bool("jarvis_arena", false)
local ARENA_Y = 100
local ARENA_R = 24
local arena_ready = false
local start = minetest.get_us_time()

local function now()
	return (minetest.get_us_time() - start) / 1e6
end

local function write(obj)
	obj.t = now()
	log:write(minetest.write_json(obj) .. "\n")
	log:flush()
end

local function build_arena(player)
	local p1 = {x = -ARENA_R, y = ARENA_Y - 2, z = -ARENA_R}  -- two layers of floor: a dug hole has a bottom
	local p2 = {x = ARENA_R, y = ARENA_Y + 4, z = ARENA_R}
	minetest.emerge_area(p1, p2, function(_, _, remaining)
		if remaining > 0 then
			return
		end
		local vm = minetest.get_voxel_manip()
		local e1, e2 = vm:read_from_map(p1, p2)
		local area = VoxelArea:new({MinEdge = e1, MaxEdge = e2})
		local data = vm:get_data()
		local stone = minetest.get_content_id("default:stone")
		local air = minetest.get_content_id("air")
		for z = p1.z, p2.z do
			for y = p1.y, p2.y do
				for x = p1.x, p2.x do
					data[area:index(x, y, z)] = (y < ARENA_Y) and stone or air
				end
			end
		end
		vm:set_data(data)
		vm:write_to_map(true)
		player:set_pos({x = 0, y = ARENA_Y, z = 0})
		player:set_look_horizontal(0)
		player:set_look_vertical(0)
		player:set_clouds({density = 0})  -- a plain sky (with enable_weather = false: weather resets clouds)
		arena_ready = true
		write({k = "arena"})
	end)
end

minetest.register_on_joinplayer(function(player)
	minetest.set_timeofday(0.5)
	write({k = "join", name = player:get_player_name()})
	if arena then
		minetest.after(0.1, build_arena, player)
	end
end)

-- the world as it was before this trial changed it: position hash -> the node first seen there
local changed = {}

local function remember(pos, oldnode)
	local h = minetest.hash_node_position(pos)
	if changed[h] == nil then
		changed[h] = {pos = vector.new(pos), node = {name = oldnode.name, param1 = oldnode.param1,
			param2 = oldnode.param2}}
	end
end

minetest.register_on_dignode(function(pos, oldnode, digger)
	remember(pos, oldnode)
	write({k = "dig", node = oldnode.name, at = {pos.x, pos.y, pos.z}})
end)

minetest.register_on_placenode(function(pos, newnode, placer, oldnode)
	remember(pos, oldnode)
	write({k = "place", node = newnode.name, at = {pos.x, pos.y, pos.z}})
end)

minetest.register_on_craft(function(itemstack)
	write({k = "craft", item = itemstack:get_name(), count = itemstack:get_count()})
end)

local builtin_drop = minetest.item_drop
minetest.item_drop = function(itemstack, dropper, pos)
	local name, count = itemstack:get_name(), itemstack:get_count()
	local left = builtin_drop(itemstack, dropper, pos)
	local kept = left and ItemStack(left):get_count() or 0
	if name ~= "" and count > kept then
		write({k = "drop", item = name, count = count - kept})
	end
	return left
end

-- 5.6 has no on_item_pickup callback: wrap the item entity's punch, which moves it into the inventory
local item_entity = minetest.registered_entities["__builtin:item"]
if item_entity and item_entity.on_punch then
	local builtin_punch = item_entity.on_punch
	item_entity.on_punch = function(self, hitter, ...)
		local before = ItemStack(self.itemstring)
		local result = builtin_punch(self, hitter, ...)
		local after = ItemStack(self.itemstring)
		local taken = before:get_count() - ((after:get_name() == before:get_name()) and after:get_count() or 0)
		if hitter and hitter:is_player() and not before:is_empty() and taken > 0 then
			write({k = "pickup", item = before:get_name(), count = taken})
		end
		return result
	end
end

local function reset(player, words)
	local restored = 0
	for _, entry in pairs(changed) do
		minetest.set_node(entry.pos, entry.node)
		restored = restored + 1
	end
	changed = {}
	local inv = player:get_inventory()
	for _, list in ipairs({"main", "craft", "craftpreview", "craftresult"}) do
		if inv:get_size(list) > 0 then
			inv:set_list(list, {})
		end
	end
	local at = {x = tonumber(words[2]), y = tonumber(words[3]), z = tonumber(words[4])}
	for _, obj in ipairs(minetest.get_objects_inside_radius(at, 64)) do
		local entity = obj:get_luaentity()
		if entity and entity.name == "__builtin:item" then
			obj:remove()
		end
	end
	minetest.close_formspec(player:get_player_name(), "")
	player:set_pos(at)
	player:set_look_horizontal(math.rad(tonumber(words[5])))
	player:set_look_vertical(math.rad(tonumber(words[6])))
	write({k = "reset", restored = restored})
end

local function run_commands(player)
	local f = io.open(cmd_path, "r")
	if not f then
		return
	end
	local text = f:read("*a")
	f:close()
	os.remove(cmd_path)
	for line in text:gmatch("[^\n]+") do
		local words = {}
		for w in line:gmatch("%S+") do
			words[#words + 1] = w
		end
		local op = words[1]
		if op == "tp" then
			player:set_pos({x = tonumber(words[2]), y = tonumber(words[3]), z = tonumber(words[4])})
			player:set_look_horizontal(math.rad(tonumber(words[5])))
			player:set_look_vertical(math.rad(tonumber(words[6])))
		elseif op == "setnode" then
			minetest.set_node({x = tonumber(words[2]), y = tonumber(words[3]), z = tonumber(words[4])},
				{name = words[5]})
		elseif op == "give" then
			-- Into the hand when it is empty: the selected hotbar slot is whatever the last trial's
			-- player left (a model pressing 1-9), and a trial's items must not depend on that.
			local inv, stack = player:get_inventory(), ItemStack(words[2] .. " " .. (words[3] or "1"))
			local hand = player:get_wield_index()
			if inv:get_stack("main", hand):is_empty() then
				inv:set_stack("main", hand, stack)
			else
				inv:add_item("main", stack)
			end
		elseif op == "reset" then
			reset(player, words)
		elseif op == "id" then
			write({k = "ack", id = tonumber(words[2])})
		end
	end
end

minetest.register_globalstep(function()
	local player = minetest.get_player_by_name("singleplayer")
	if not player then
		return
	end
	if arena_ready or not arena then
		run_commands(player)
	end
	local p = player:get_pos()
	local c = player:get_player_control()
	write({
		k = "pose",
		p = {p.x, p.y, p.z},
		yaw = player:get_look_horizontal(),
		pitch = player:get_look_vertical(),
		c = {up = c.up, down = c.down, left = c.left, right = c.right, jump = c.jump,
			sneak = c.sneak, aux1 = c.aux1, dig = c.dig, place = c.place},
	})
end)

minetest.register_on_shutdown(function()
	write({k = "shutdown"})
	log:close()
end)
